"""Content hashes: the identity of specs, architectures, data and weight files."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def content_hash(data: Any) -> str:
    """sha256 of canonical JSON: the identity of a spec or architecture."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
