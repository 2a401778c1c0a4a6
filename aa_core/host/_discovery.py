"""Entry-point scanning that reads installed metadata only: no plugin module, no torch."""
from __future__ import annotations

from importlib import metadata

import attrs

from .._api import core_range
from ._first_party import FIRST_PARTY

PLUGIN_GROUP = "aa.plugins"
COMPONENT_GROUP = "aa.components"

def first_party_provider(kind: str, name: str) -> tuple[str, str] | None:
    """(distribution, source dir) of the first-party package providing kind.name, if any.

    ``kind`` is a component kind, or ``task``, ``section`` or ``command``."""
    for dist, (path, comps) in FIRST_PARTY.items():
        if f"{kind}.{name}" in comps:
            return dist, path
    return None


@attrs.frozen
class PluginInfo:
    """One ``aa.plugins`` entry point, as installed metadata describes it."""

    name: str
    module: str
    distribution: str
    version: str
    components: tuple[tuple[str, str], ...]
    #: the aa-core releases the plugin was built for: its Requires-Dist specifier on aa-core ('' = any)
    core_range: str = ""


def _dist_of(ep: metadata.EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"], dist.version


def scan() -> list[PluginInfo]:
    """Every installed plugin with the components it declares, sorted core first."""
    eps = metadata.entry_points()
    declared: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for ep in eps.select(group=COMPONENT_GROUP):
        kind, _, name = ep.name.partition(".")
        declared.setdefault((_dist_of(ep)[0], ep.value), []).append((kind, name))
    seen: set[tuple[str, str]] = set()
    plugins = []
    for ep in eps.select(group=PLUGIN_GROUP):
        dist, version = _dist_of(ep)
        if (dist, ep.name) in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add((dist, ep.name))
        comps = tuple(sorted(declared.get((dist, ep.value), [])))
        rng = core_range(ep.dist) if dist != "aa-core" else ""
        plugins.append(PluginInfo(ep.name, ep.value, dist, version, comps, rng))
    plugins.sort(key=lambda p: (p.distribution != "aa-core", p.distribution, p.name))
    return plugins
