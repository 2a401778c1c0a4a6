"""The service's settings from the command line, checked before anything binds or loads (torch-free)."""
from __future__ import annotations

import ipaddress
import os
import re
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
    max_questions: int = 64
    max_question_chars: int = 1000
    max_body_bytes: int = 256 * 1024
    timeout_s: float = 30.0
    top_k: int = 3
    threads: int = 1
    cors_origins: list[str] = attrs.Factory(list)
    log_level: str = "warning"


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
    _positive("--max-questions", args.max_questions, 1, 10_000)
    _positive("--max-question-chars", args.max_question_chars, 1, 100_000)
    _positive("--max-body-bytes", args.max_body_bytes, 1024, 64 * 1024 * 1024)
    _positive("--timeout-s", args.timeout_s, 0.01, 3600)
    _positive("--top-k", args.top_k, 0, 20)
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
                    max_wait_s=args.max_wait_ms / 1000, max_questions=args.max_questions, max_question_chars=args.max_question_chars,
                    max_body_bytes=args.max_body_bytes, timeout_s=args.timeout_s, top_k=args.top_k, threads=args.threads,
                    cors_origins=list(args.cors_origin), log_level=args.log_level)
