"""The plugin host: lazy loading of plugin modules through pluggy, by (kind, name)."""
from __future__ import annotations

import importlib
from typing import Iterable

import attrs
import pluggy

from . import _hookspecs
from ._component import Component
from ._convert import did_you_mean
from ._discovery import FIRST_PARTY, PluginInfo, first_party_provider, scan
from ._errors import PluginError, Problem


@attrs.frozen
class Registered:
    """A component together with the plugin distribution that registered it."""

    component: Component
    plugin: PluginInfo


class PluginHost:
    """Knows every installed plugin from metadata; imports one only when it is needed."""

    def __init__(self, plugins: Iterable[PluginInfo] | None = None):
        self.plugins = list(scan() if plugins is None else plugins)
        self.pm = pluggy.PluginManager("aa")
        self.pm.add_hookspecs(_hookspecs)
        self.load_errors: dict[str, str] = {}
        self._loaded: set[str] = set()
        self._components: dict[tuple[str, str], Registered] = {}

    # -- metadata only -------------------------------------------------------------
    def declared(self) -> dict[tuple[str, str], list[PluginInfo]]:
        """(kind, name) → the plugins declaring it, from metadata alone."""
        out: dict[tuple[str, str], list[PluginInfo]] = {}
        for p in self.plugins:
            for comp in p.components:
                out.setdefault(comp, []).append(p)
        return out

    def names(self, kind: str) -> list[str]:
        return sorted({n for (k, n) in self.declared() if k == kind})

    # -- loading ---------------------------------------------------------------------
    def load(self, plugin: PluginInfo) -> bool:
        """Import and register one plugin; an import failure is recorded, not raised."""
        key = f"{plugin.distribution}:{plugin.name}"
        if key in self._loaded:
            return key not in self.load_errors
        self._loaded.add(key)
        try:
            module = importlib.import_module(plugin.module)
            self.pm.register(module, name=key)
            impls = [i for i in self.pm.hook.aa_components.get_hookimpls() if i.plugin_name == key]
            comps = [c for impl in impls for c in (impl.function() or [])]
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
            self.load_errors[key] = f"{type(exc).__name__}: {exc}"
            return False
        for comp in comps:
            other = self._components.get((comp.kind, comp.name))
            if other is not None and other.plugin.distribution != plugin.distribution:
                raise PluginError(
                    f"two plugins register {comp.kind} '{comp.name}': distribution "
                    f"'{other.plugin.distribution}' ({other.plugin.module}) and '{plugin.distribution}' "
                    f"({plugin.module}). Uninstall one of them (pip uninstall <distribution>)."
                )
            self._components[(comp.kind, comp.name)] = Registered(comp, plugin)
        return True

    def check_conflicts(self) -> None:
        """Raise if two distributions declare the same (kind, name) in their metadata."""
        for (kind, name), plugins in self.declared().items():
            dists = sorted({p.distribution for p in plugins})
            if len(dists) > 1:
                raise PluginError(
                    f"two plugins register {kind} '{name}': distributions {' and '.join(repr(d) for d in dists)}. "
                    "Uninstall one of them (pip uninstall <distribution>)."
                )

    def get(self, kind: str, name: str, path: str = "") -> Registered:
        """The registered component kind.name, loading its plugin on first use."""
        self.check_conflicts()
        if (kind, name) in self._components:
            return self._components[(kind, name)]
        for plugin in self.declared().get((kind, name), []):
            self.load(plugin)
        if (kind, name) in self._components:
            return self._components[(kind, name)]
        raise PluginError("cannot build component", [self.missing_problem(kind, name, path)])

    def missing_problem(self, kind: str, name: str, path: str) -> Problem:
        declared = self.declared().get((kind, name), [])
        if declared:
            errs = [self.load_errors.get(f"{p.distribution}:{p.name}") for p in declared]
            why = "; ".join(f"plugin '{p.distribution}' failed to import: {e}" for p, e in zip(declared, errs) if e)
            return Problem(path, f"{kind} '{name}' is declared but could not be loaded ({why or 'the plugin did not register it'})")
        installed = self.names(kind)
        known = installed + [c.split(".", 1)[1] for _, comps in FIRST_PARTY.values() for c in comps if c.startswith(kind + ".")]
        hint = did_you_mean(name, known) if name not in known else ""
        msg = f"unknown {kind} '{name}'{hint}; installed {kind} components: {', '.join(installed) or 'none'}"
        provider = first_party_provider(kind, name)
        if provider:
            msg += f". It is provided by the first-party distribution {provider[0]}: install it with `pip install {provider[1]}` from the AA repository"
        return Problem(path, msg)

    def all_components(self) -> list[Registered]:
        """Load every plugin and return every registered component (used by tests)."""
        self.check_conflicts()
        for plugin in self.plugins:
            self.load(plugin)
        return sorted(self._components.values(), key=lambda r: (r.component.kind, r.component.name))

    def architecture_dirs(self) -> list[tuple[PluginInfo, list]]:
        """Directories of architecture TOMLs contributed by each plugin (imports hook modules)."""
        out = []
        for plugin in self.plugins:
            key = f"{plugin.distribution}:{plugin.name}"
            if not self.load(plugin):
                continue
            impls = [i for i in self.pm.hook.aa_architectures.get_hookimpls() if i.plugin_name == key]
            dirs = [d for impl in impls for d in (impl.function() or [])]
            if dirs:
                out.append((plugin, dirs))
        return out


_host: PluginHost | None = None


def host() -> PluginHost:
    """The process-wide plugin host."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host
