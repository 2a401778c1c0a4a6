"""The plugin API's version, and the aa-core range each plugin declares it was built for.

``API_VERSION`` is the SemVer version of what plugins program against: :mod:`aa_core.plugin`,
:mod:`aa_core.protocols`, :mod:`aa_core.conformance` and the hook specifications. A plugin declares
the aa-core releases it was built for as its ``Requires-Dist`` on ``aa-core`` (``dependencies =
["aa-core>=0.1,<0.3"]``): pip enforces it at install time, and the plugin host enforces it when a
plugin is loaded (an editable install, ``--no-deps`` or a core upgraded afterwards), so a plugin
outside its range fails the specs that use it by name instead of with whatever import error it hits.
The deprecation policy (docs/write-a-cell.md) is what makes such a range safe to state.
"""
from __future__ import annotations

import re
from importlib import metadata

from ._version import __version__

API_VERSION = "1.1.0"

# A Requires-Dist line naming aa-core: "aa-core<0.3,>=0.1", "aa_core (>=0.1)", with an optional
# "; marker". Parsed here rather than by packaging.requirements, whose import alone costs more than
# the whole metadata scan of `aa plugins`.
_CORE_REQ = re.compile(r"^\s*aa[-_.]core\s*(?:\[[^\]]*\])?\s*\(?\s*(?P<spec>(?:[<>=!~][^;()]*?)?)\s*\)?\s*(?:;(?P<marker>.*))?$", re.I)


def core_range(dist: metadata.Distribution | None) -> str:
    """The specifier of ``dist``'s requirement on aa-core ('' when it has none); reads metadata only.
    A requirement that applies only with an extra (``; extra == "x"``) is not the plugin's range."""
    if dist is None:
        return ""
    for line in dist.requires or []:
        m = _CORE_REQ.match(line)
        if m and "extra" not in (m.group("marker") or ""):
            return m.group("spec").replace(" ", "")
    return ""


def incompatibility(distribution: str, version: str, rng: str, core: str = __version__) -> str | None:
    """Why ``distribution`` (declaring aa-core ``rng``) cannot run on aa-core ``core``; None when it can.

    A source checkout without installed metadata (``0.0.0+source``) is never judged."""
    if not rng or "+source" in core:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        ok = SpecifierSet(rng).contains(core, prereleases=True)
    except InvalidSpecifier:
        return f"plugin '{distribution}' {version} declares an invalid aa-core range {rng!r} in its Requires-Dist"
    if ok:
        return None
    return (f"plugin '{distribution}' {version} was built for aa-core {rng}, but the installed aa-core is {core} "
            f"(plugin API {API_VERSION}); install a release of {distribution} built for this core, "
            f"or an aa-core in its range (pip install 'aa-core{rng}')")


def default_range(core: str = __version__) -> str:
    """The range a plugin built today against ``core`` declares: this minor release and the next
    (pre-1.0: ``>=0.N,<0.N+2``; from 1.0 on, the same major: ``>=M.N,<M+1``). The deprecation policy
    guarantees a name is never removed less than two minor releases after it was deprecated."""
    m = re.match(r"(\d+)\.(\d+)", core)
    if not m or "+source" in core:
        return ">=0.1,<0.3"
    major, minor = int(m.group(1)), int(m.group(2))
    if major == 0:
        return f">=0.{minor},<0.{minor + 2}"
    return f">={major}.{minor},<{major + 1}"
