"""The architecture registry: immutable ``name@version`` → spec, from TOML files.

Files live in the core's ``registry/`` folder and in folders that plugins return from the
``aa_architectures`` hook. Each file has an ``[architecture]`` table (name, version,
description, optional ``deprecated_by``) and the spec tables. A ``registry.lock`` beside
them records each released version's content hash and parameter count, so listing needs
no torch and an edited release is caught by the tests.
"""
from __future__ import annotations

import tomllib
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from ._convert import did_you_mean
from ._errors import Problem, UserError
from ._plugin_manager import host


@attrs.frozen
class Architecture:
    name: str
    version: str
    description: str
    spec: dict[str, Any]
    source: str
    path: str
    deprecated_by: str | None = None
    locked_hash: str | None = None
    params: int | None = None

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def hash(self) -> str:
        from ._spec import content_hash

        return content_hash(self.spec)


def read_architecture_dir(folder: Path, source: str) -> list[Architecture]:
    """Every architecture TOML in a folder, with lock entries attached."""
    lock_path = folder / "registry.lock"
    lock = tomllib.loads(lock_path.read_text()) if lock_path.is_file() else {}
    out = []
    for f in sorted(folder.glob("*.toml")):
        data = tomllib.loads(f.read_text(encoding="utf-8"))
        meta = data.pop("architecture", None)
        if not isinstance(meta, dict) or "name" not in meta or "version" not in meta:
            raise UserError(f"{f}: architecture file needs an [architecture] table with name and version")
        entry = lock.get(f"{meta['name']}@{meta['version']}", {})
        out.append(
            Architecture(
                name=meta["name"],
                version=str(meta["version"]),
                description=meta.get("description", ""),
                spec=data,
                source=source,
                path=str(f),
                deprecated_by=meta.get("deprecated_by"),
                locked_hash=entry.get("hash"),
                params=entry.get("params"),
            )
        )
    return out


def core_dir() -> Path:
    """The core's ``registry/`` folder: packaged as ``aa_core.architectures`` in a wheel, the
    repository folder in an editable install (setuptools' editable finder maps top-level
    packages only)."""
    source_tree = Path(__file__).resolve().parent.parent / "registry"
    if source_tree.is_dir():
        return source_tree
    return Path(str(resources.files("aa_core.architectures")))


class Registry:
    """All architectures from the core and installed plugins, by ``name@version``."""

    def __init__(self, architectures: list[Architecture]):
        self.items: dict[str, Architecture] = {}
        for arch in architectures:
            if arch.key in self.items:
                other = self.items[arch.key]
                raise UserError(f"architecture {arch.key} is defined twice: {other.path} ({other.source}) and {arch.path} ({arch.source})")
            self.items[arch.key] = arch

    def list(self, pattern: str | None = None) -> list[Architecture]:
        import fnmatch

        items = sorted(self.items.values(), key=lambda a: (a.name, _version_key(a.version)))
        if pattern:
            items = [a for a in items if fnmatch.fnmatch(a.key, pattern) or pattern in a.key]
        return items

    def get(self, key: str) -> Architecture:
        if "@" not in key:
            versions = [a for a in self.items.values() if a.name == key]
            if not versions:
                raise UserError("unknown architecture", [Problem("architecture", self._unknown(key))])
            latest = max(versions, key=lambda a: _version_key(a.version))
            raise UserError("architecture needs a version", [Problem("architecture", f"write '{latest.key}' (versions: {', '.join(sorted(a.version for a in versions))})")])
        if key not in self.items:
            raise UserError("unknown architecture", [Problem("architecture", self._unknown(key))])
        arch = self.items[key]
        if arch.deprecated_by:
            warnings.warn(f"architecture {key} is deprecated; use {arch.deprecated_by}", DeprecationWarning, stacklevel=2)
        return arch

    def _unknown(self, key: str) -> str:
        return f"unknown architecture '{key}'{did_you_mean(key, self.items)}; `aa registry list` shows the available ones"


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in v.replace("-", ".").split("."))


_registry: Registry | None = None


def registry() -> Registry:
    """The process-wide registry (core folder plus plugin folders)."""
    global _registry
    if _registry is None:
        archs = read_architecture_dir(core_dir(), "aa-core")
        for plugin, dirs in host().architecture_dirs():
            if plugin.distribution == "aa-core":
                continue
            for d in dirs:
                archs.extend(read_architecture_dir(Path(d), plugin.distribution))
        _registry = Registry(archs)
    return _registry
