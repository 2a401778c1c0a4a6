"""Wording helpers shared by every error message."""
from __future__ import annotations

import difflib
import os
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def not_utf8(raw: bytes, where: str, what: str = "text") -> str:
    """One line naming input that is not UTF-8 (where it came from, the bad byte and the fix); '' when it is UTF-8."""
    try:
        raw.decode("utf-8")
        return ""
    except UnicodeDecodeError as exc:
        shown = raw.decode("utf-8", "backslashreplace").strip()
        return (f"{where} ('{shown}') is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start}): "
                f"give the {what} as UTF-8 text (convert it, e.g. `iconv -f latin1 -t utf-8`)")


def argument_text(value: str, where: str, what: str = "text") -> str:
    """A command-line argument as text; a UserError naming it, its bad byte and the fix when it is not UTF-8."""
    from ._errors import UserError

    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:  # undecodable argv bytes arrive as lone surrogates
        raise UserError(not_utf8(os.fsencode(value), where, what)) from None
