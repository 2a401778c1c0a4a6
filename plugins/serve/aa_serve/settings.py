"""The service's settings from the command line, checked before anything binds or loads (torch-free).

They are task-neutral (inputs per request, body size, batching, time); a handler's own settings are
``--option NAME=VALUE`` (:class:`aa_serve.ServeOption`, checked once the handlers in use are known).
The Q→A flags of 0.1 (``--max-questions``, ``--max-question-chars``, ``--top-k``) still work with a
DeprecationWarning (removed in aa-serve 0.3): ``--max-inputs``, ``--option max_question_chars=N``,
``--option top_k=N``.
"""
from __future__ import annotations

import ipaddress
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import attrs

from aa_core.plugin import UserError

API_KEY_ENV = "AA_SERVE_API_KEY"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@attrs.frozen
class Settings:
    checkpoints: list[tuple[str | None, Path]]  # (name given with NAME=DIR, folder)
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_batch: int = 32
    max_wait_s: float = 0.0
    max_inputs: int = 64  # inputs in one request (a batch of questions, images, ...)
    max_body_bytes: int = 256 * 1024
    timeout_s: float = 30.0
    threads: int = 1
    cors_origins: list[str] = attrs.Factory(list)
    log_level: str = "warning"
    options: dict[str, str] = attrs.Factory(dict)  # --option NAME=VALUE, as given (each handler parses its own)

    # -- the Q→A names of 0.1, for handlers that read them (deprecated: removed in aa-serve 0.3) --
    @property
    def max_questions(self) -> int:
        _deprecated("settings.max_questions", "settings.max_inputs")
        return self.max_inputs

    @property
    def max_question_chars(self) -> int:
        _deprecated("settings.max_question_chars", "host.options['max_question_chars'] (aa-qa's option)")
        return int(self.options.get("max_question_chars", 1000))

    @property
    def top_k(self) -> int:
        _deprecated("settings.top_k", "host.options['top_k'] (aa-qa's option)")
        return int(self.options.get("top_k", 3))


REMOVE_IN = "0.3"
#: 0.1's Q→A flags → the option they set (None: the generic --max-inputs)
DEPRECATED_FLAGS = {"max_questions": ("--max-questions", None), "max_question_chars": ("--max-question-chars", "max_question_chars"),
                    "top_k": ("--top-k", "top_k")}


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in aa-serve {REMOVE_IN}; use {new}", DeprecationWarning, stacklevel=3)


def parse_option(value: str) -> tuple[str, str]:
    """``NAME=VALUE`` of ``--option``."""
    name, sep, text = value.partition("=")
    if not sep or not re.match(r"^[a-z][a-z0-9_]*$", name.strip()):
        raise UserError(f"--option {value}: give NAME=VALUE, e.g. --option top_k=5 (the options of the handlers in use "
                        "are listed when one is unknown)")
    return name.strip(), text.strip()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_checkpoint(value: str) -> tuple[str | None, Path]:
    """``NAME=DIR`` or ``DIR``."""
    name, sep, folder = value.partition("=")
    if not sep or os.sep in name or not name:
        return None, Path(value)
    if not _NAME.match(name):
        raise UserError(f"--checkpoint {value}: the model name '{name}' may use letters, digits and . _ @ - (at most 64 characters)")
    return name, Path(folder)


def read_api_key(path: str | None) -> str | None:
    if path:
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--api-key-file {path}: cannot read it ({exc}); give a file holding the key on one line") from None
        if not key:
            raise UserError(f"--api-key-file {path} is empty; put the API key in it")
        return key
    return os.environ.get(API_KEY_ENV, "").strip() or None


def _positive(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise UserError(f"{name} = {value} is out of range; give a value from {low:g} to {high:g}")


def settings_from_args(args: Any) -> Settings:
    """Settings from parsed arguments; bad values and a non-loopback bind without an API key are UserErrors."""
    _positive("--port", args.port, 0, 65535)
    _positive("--max-batch", args.max_batch, 1, 1024)
    _positive("--max-wait-ms", args.max_wait_ms, 0, 10_000)
    options = dict(parse_option(o) for o in getattr(args, "option", None) or [])
    max_inputs = args.max_inputs
    for attr, (flag, option) in DEPRECATED_FLAGS.items():
        given = getattr(args, attr, None)
        if given is None:
            continue
        new = f"--option {option}={given}" if option else f"--max-inputs {given}"
        text = f"{flag} is deprecated and will be removed in aa-serve {REMOVE_IN}; use {new}"
        warnings.warn(text, DeprecationWarning, stacklevel=2)
        print(f"aa serve: warning: {text}", file=sys.stderr, flush=True)
        if option is None:
            max_inputs = given
        else:
            options.setdefault(option, str(given))  # --option wins over the old flag
    _positive("--max-inputs", max_inputs, 1, 10_000)
    _positive("--max-body-bytes", args.max_body_bytes, 1024, 64 * 1024 * 1024)
    _positive("--timeout-s", args.timeout_s, 0.01, 3600)
    _positive("--threads", args.threads, 0, 1024)
    key = read_api_key(args.api_key_file)
    if not is_loopback(args.host) and key is None:
        raise UserError(f"--host {args.host} would expose the service beyond this machine without authentication; "
                        f"give an API key with --api-key-file FILE or the {API_KEY_ENV} environment variable, "
                        "or bind 127.0.0.1 (the default)")
    checkpoints = [parse_checkpoint(c) for c in args.checkpoint]
    names = [n for n, _ in checkpoints if n]
    if len(set(names)) != len(names):
        raise UserError(f"--checkpoint: model names must differ, got {', '.join(names)}")
    return Settings(checkpoints=checkpoints, host=args.host, port=args.port, api_key=key, max_batch=args.max_batch,
                    max_wait_s=args.max_wait_ms / 1000, max_inputs=max_inputs, max_body_bytes=args.max_body_bytes,
                    timeout_s=args.timeout_s, threads=args.threads, cors_origins=list(args.cors_origin), log_level=args.log_level,
                    options=options)
