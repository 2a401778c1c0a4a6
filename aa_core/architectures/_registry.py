"""The architecture registry: immutable ``name@version`` → spec, from TOML files.

Files live in the core's ``registry/`` folder and in folders that plugins return from the
``aa_architectures`` hook. Each file has an ``[architecture]`` table (name, version,
description, optional ``deprecated_by``) and the spec tables; or, for a renamed entry,
``alias_of = "other@version"`` instead of spec tables (an alias is deprecated in favour of
its target). A ``registry.lock`` beside them records each released version's content hash
and parameter count, so listing needs no torch and an edited release is caught by the
tests. ``write_lock`` adds entries for new versions and refuses to change a locked one.
"""
from __future__ import annotations

import tomllib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from .._errors import Problem, UserError
from .._fs import write_text
from .._hashing import content_hash
from .._text import did_you_mean
from ..host import host

LOCK_NAME = "registry.lock"
LOCK_HEADER = (
    "# Released architecture versions: content hash of the spec tables and parameter count.\n"
    "# Written by `aa registry lock`, which only ever adds entries. A released version is\n"
    "# immutable: to change an architecture, add a new version instead of editing this file.\n\n"
)


class ArchitectureDeprecationWarning(FutureWarning):
    """A deprecated architecture was used (a FutureWarning so that users see it by default)."""


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
    alias_of: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def hash(self) -> str:
        return content_hash(self.spec)

    @property
    def modified(self) -> bool:
        """True when the TOML no longer matches the hash recorded in the lock."""
        return self.locked_hash is not None and self.locked_hash != self.hash


def read_lock(folder: Path) -> dict[str, dict[str, Any]]:
    lock_path = Path(folder) / LOCK_NAME
    if not lock_path.is_file():
        return {}
    try:
        return tomllib.loads(lock_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{lock_path}: invalid TOML ({exc})") from None


def read_architecture_dir(folder: Path, source: str) -> list[Architecture]:
    """Every architecture TOML in a folder, with lock entries attached."""
    folder = Path(folder)
    lock = read_lock(folder)
    out = []
    for f in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(f.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{f}: invalid TOML ({exc})") from None
        meta = data.pop("architecture", None)
        if not isinstance(meta, dict) or "name" not in meta or "version" not in meta:
            raise UserError(f"{f}: architecture file needs an [architecture] table with name and version")
        alias_of = meta.get("alias_of")
        if alias_of is not None and data:
            raise UserError(f"{f}: an alias (alias_of = {alias_of!r}) must not have spec tables of its own")
        entry = lock.get(f"{meta['name']}@{meta['version']}", {})
        out.append(
            Architecture(
                name=meta["name"],
                version=str(meta["version"]),
                description=meta.get("description", ""),
                spec=data,
                source=source,
                path=str(f),
                deprecated_by=meta.get("deprecated_by", alias_of),
                locked_hash=entry.get("hash"),
                params=entry.get("params"),
                alias_of=alias_of,
            )
        )
    return out


def core_dir() -> Path:
    """The core's ``registry/`` folder: packaged as ``aa_core/architectures/shipped`` in a wheel, the
    repository folder in an editable install (setuptools' editable finder maps top-level packages only)."""
    source_tree = Path(__file__).resolve().parent.parent.parent / "registry"
    if source_tree.is_dir():
        return source_tree
    return Path(__file__).resolve().parent / "shipped"


class Registry:
    """All architectures from the core and installed plugins, by ``name@version``."""

    def __init__(self, architectures: list[Architecture]):
        self.items: dict[str, Architecture] = {}
        for arch in architectures:
            if arch.key in self.items:
                other = self.items[arch.key]
                raise UserError(f"architecture {arch.key} is defined twice: {other.path} ({other.source}) and {arch.path} ({arch.source})")
            self.items[arch.key] = arch
        for key, arch in list(self.items.items()):
            if arch.alias_of:
                target = self.items.get(arch.alias_of)
                if target is None or target.alias_of:
                    raise UserError(f"{arch.path}: alias_of = {arch.alias_of!r} names no (non-alias) architecture{did_you_mean(arch.alias_of, self.items)}")
                self.items[key] = attrs.evolve(arch, spec=target.spec)

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
            warnings.warn(f"architecture {key} is deprecated; use {arch.deprecated_by}", ArchitectureDeprecationWarning, stacklevel=2)
        return arch

    def _unknown(self, key: str) -> str:
        return f"unknown architecture '{key}'{did_you_mean(key, self.items)}; `aa registry list` shows the available ones"


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in v.replace("-", ".").split("."))


_registry: Registry | None = None


def folders() -> list[tuple[Path, str]]:
    """(folder, source distribution) of every architecture folder: the core's, then plugins'."""
    out = [(core_dir(), "aa-core")]
    for plugin, dirs in host().architecture_dirs():
        if plugin.distribution == "aa-core":
            continue
        out.extend((Path(d), plugin.distribution) for d in dirs)
    return out


def registry() -> Registry:
    """The process-wide registry (core folder plus plugin folders)."""
    global _registry
    if _registry is None:
        archs = []
        for folder, source in folders():
            if folder.is_dir():
                archs.extend(read_architecture_dir(folder, source))
        _registry = Registry(archs)
    return _registry


def reset() -> None:
    """Forget the cached registry (after a lock or a TOML changed on disk)."""
    global _registry
    _registry = None


# -- the lock --------------------------------------------------------------------------------

def folder_architectures(folder: Path, source: str) -> list[Architecture]:
    """The architectures of one folder, aliases resolved (targets may live in other folders)."""
    raw = read_architecture_dir(Path(folder), source)
    keys = {a.key for a in raw}
    reg = Registry([*raw, *[a for a in registry().items.values() if a.key not in keys]])
    return [reg.items[a.key] for a in raw]


def lock_problems(folder: Path, source: str) -> list[Problem]:
    """Versions of a folder that are not locked, or whose TOML changed since it was locked."""
    out = []
    for a in folder_architectures(folder, source):
        if a.locked_hash is None:
            out.append(Problem(a.key, f"not in {Path(folder) / LOCK_NAME}; run `aa registry lock` once the version is final"))
        elif a.modified:
            out.append(Problem(a.key, f"{a.path} changed since it was locked (hash {a.locked_hash[:12]}… in the lock, {a.hash[:12]}… now); a released version is immutable: restore it and add a new version"))
    return out


def write_lock(folder: Path, source: str, params_of: Callable[[Architecture], int], *, dry_run: bool = False) -> tuple[list[str], list[str]]:
    """Add lock entries for the folder's unlocked versions; returns (added, already locked).

    ``params_of`` counts an architecture's parameters (it builds the model, a layer above this one).

    Refuses (UserError, nothing written) when a locked version's TOML changed: a released
    architecture is immutable and a change needs a new version."""
    import tomli_w

    folder = Path(folder)
    archs = folder_architectures(folder, source)
    lock = read_lock(folder)
    changed = [a for a in archs if a.modified]
    if changed:
        raise UserError(
            f"{folder / LOCK_NAME}: released architectures changed since they were locked (a released version is immutable; "
            "restore the file or give the change a new version)",
            [Problem(a.key, f"{a.path}: hash {(a.locked_hash or '')[:12]}… in the lock, {a.hash[:12]}… now") for a in changed],
        )
    added = []
    for a in archs:
        if a.key in lock:
            continue
        lock[a.key] = {"hash": a.hash, "params": params_of(a)}
        added.append(a.key)
    if added and not dry_run:
        write_text(folder / LOCK_NAME, LOCK_HEADER + tomli_w.dumps(dict(sorted(lock.items(), key=lambda kv: kv[0]))))
        reset()
    return added, [a.key for a in archs if a.key not in added]
