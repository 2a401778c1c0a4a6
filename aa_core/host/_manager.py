"""The plugin host: lazy loading of plugin modules through pluggy, with their contributions checked.

Listing reads entry-point metadata only. A plugin's hook module is imported when one of its
components, tasks, sections or commands is needed; loading validates it (every ``@hookimpl``
names a known hook, undecorated ``aa_*`` functions are flagged, the components its hook returns
match the ones its metadata declares, its architecture folders exist). A plugin that fails is
recorded with its error and the others keep working; a (kind, name) claimed by two
distributions fails only the specs that use it. Tasks and sections may be declared in the metadata
too (``"task.NAME"``, ``"section.NAME"``): then a spec using one of a plugin that cannot load
(outside its aa-core range, broken) fails with that plugin's error, as a component would.
A plugin may add hooks for other plugins (``aa_add_hookspecs``: aa-serve's ``aa_serve_handlers``);
their contributions are read with :meth:`PluginHost.collect`.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import pluggy

from .._api import incompatibility
from .._errors import PluginError, Problem
from .._text import did_you_mean
from . import _hookspecs
from ._component import Command, Component, Section, Task
from ._discovery import FIRST_PARTY, PluginInfo, first_party_provider, scan

HOOK_NAMES = tuple(n for n in dir(_hookspecs) if n.startswith("aa_"))


@attrs.frozen
class Registered:
    """A component together with the plugin distribution that registered it."""

    component: Component
    plugin: PluginInfo


@attrs.frozen
class Loaded:
    """What one plugin module contributed."""

    components: tuple[Component, ...] = ()
    architectures: tuple[Path, ...] = ()
    tasks: tuple[Task, ...] = ()
    sections: tuple[Section, ...] = ()
    commands: tuple[Command, ...] = ()


def _key(plugin: PluginInfo) -> str:
    return f"{plugin.distribution}:{plugin.name}"


class PluginHost:
    """Knows every installed plugin from metadata; imports one only when it is needed."""

    def __init__(self, plugins: Iterable[PluginInfo] | None = None):
        self.plugins = list(scan() if plugins is None else plugins)
        self.pm = pluggy.PluginManager(_hookspecs.PROJECT)
        self.pm.add_hookspecs(_hookspecs)
        self.load_errors: dict[str, str] = {}
        self._loaded: dict[str, Loaded] = {}
        self._loading: set[str] = set()  # plugins being loaded (loading another may load the rest: see _check_hooks)
        self.hook_names: set[str] = set(HOOK_NAMES)  # the core's hooks and those plugins added (aa_add_hookspecs)
        self._clashes: dict[tuple[str, str], list[str]] = {}

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

    def conflicts(self) -> dict[tuple[str, str], list[str]]:
        """(kind, name) → the distributions declaring it, where there is more than one."""
        out = {}
        for comp, plugins in self.declared().items():
            dists = sorted({p.distribution for p in plugins})
            if len(dists) > 1:
                out[comp] = dists
        return out

    # -- loading ---------------------------------------------------------------------
    def load(self, plugin: PluginInfo) -> bool:
        """Import, validate and register one plugin; a failure is recorded, not raised."""
        key = _key(plugin)
        if key in self._loaded:
            return True
        if key in self.load_errors:
            return False
        too_old_or_new = incompatibility(plugin.distribution, plugin.version, plugin.core_range)
        if too_old_or_new:  # not imported: code built for another core fails in unpredictable places
            self.load_errors[key] = f"IncompatiblePlugin: {too_old_or_new}"
            return False
        self._loading.add(key)
        try:
            module = importlib.import_module(plugin.module)
            _check_undecorated(module, self.hook_names)
            self.pm.register(module, name=key)
            try:
                for impl in self._impls(key, "aa_add_hookspecs"):
                    impl.function(host=self)
                self._check_hooks(key)
            except Exception:
                self.pm.unregister(name=key)
                raise
            loaded = Loaded(
                components=tuple(self._call(key, "aa_components")),
                architectures=tuple(Path(d) for d in self._call(key, "aa_architectures")),
                tasks=tuple(self._call(key, "aa_tasks")),
                sections=tuple(self._call(key, "aa_spec_sections")),
                commands=tuple(self._call(key, "aa_cli_commands")),
            )
            _check_declared(plugin, loaded)
            missing = [str(d) for d in loaded.architectures if not Path(d).is_dir()]
            if missing:
                raise PluginError(
                    f"aa_architectures returns {', '.join(missing)}, which does not exist; ship the folder in the wheel "
                    "([tool.setuptools.package-data] \"*\" = [\"architectures/*.toml\", \"architectures/registry.lock\"]) "
                    "or stop returning it"
                )
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
            self.load_errors[key] = f"{type(exc).__name__}: {exc}"
            return False
        finally:
            self._loading.discard(key)
        self._loaded[key] = loaded
        return True

    def _impls(self, key: str, hook: str) -> list[Any]:
        caller = getattr(self.pm.hook, hook, None)
        return [i for i in caller.get_hookimpls() if i.plugin_name == key] if caller is not None else []

    def _call(self, key: str, hook: str) -> list[Any]:
        return [item for impl in self._impls(key, hook) for item in (impl.function() or [])]

    # -- hooks that plugins add --------------------------------------------------------
    def add_hookspecs(self, module_or_class: Any) -> None:
        """Add the hook specifications of ``module_or_class`` (functions marked ``@aa_core.hookspec``);
        what a plugin's ``aa_add_hookspecs(host)`` calls. A plugin registered earlier whose implementation
        takes arguments the specification does not give fails to load (its error recorded), not the caller."""
        for name in dir(module_or_class):
            if self.pm.parse_hookspec_opts(module_or_class, name) is None:
                continue
            self.hook_names.add(name)
            given = set(inspect.signature(getattr(module_or_class, name)).parameters)
            caller = getattr(self.pm.hook, name, None)
            for impl in list(caller.get_hookimpls()) if caller is not None else []:
                extra = sorted(set(impl.argnames) - given)
                if extra:
                    self.pm.unregister(name=impl.plugin_name)
                    self._loaded.pop(impl.plugin_name, None)
                    self.load_errors[impl.plugin_name] = (f"PluginError: its {name} takes {', '.join(extra)}, which the hook's "
                                                          f"specification does not give (it takes {', '.join(sorted(given)) or 'nothing'})")
        self.pm.add_hookspecs(module_or_class)

    def _check_hooks(self, key: str) -> None:
        """Every hook ``key`` implements must be specified (pluggy's ``check_pending`` for one plugin). A hook no
        specification names yet may be added by another plugin (``aa_add_hookspecs``): the others are loaded
        first. Optional implementations, and the hooks of first-party plugins that are not installed
        (:data:`PLUGIN_HOOKS`), are left alone."""
        def unknown() -> list[str]:
            return sorted(name for name, caller in vars(self.pm.hook).items() if not name.startswith("_") and not caller.has_spec()
                          and any(i.plugin_name == key and not i.optionalhook for i in caller.get_hookimpls()))

        missing = [n for n in unknown() if n not in _hookspecs.PLUGIN_HOOKS]
        if not missing:
            return
        for plugin in self.plugins:  # one of them may specify it
            other = _key(plugin)
            if other != key and other not in self._loading and other not in self._loaded and other not in self.load_errors:
                self.load(plugin)
        missing = [n for n in unknown() if n not in _hookspecs.PLUGIN_HOOKS]
        if missing:
            known = sorted(self.hook_names)
            raise PluginError("; ".join(f"{name} is not a hook{did_you_mean(name, known)} (no installed plugin specifies it; the hooks: "
                                        f"{', '.join(known)})" for name in missing))

    def collect(self, hook: str) -> list[tuple[Any, PluginInfo]]:
        """(item, plugin) of every item the hook ``hook`` returns, plugin by plugin (loads every plugin): how a
        plugin reads the contributions to the hooks it added (aa-serve: ``aa_serve_handlers``)."""
        self.load_all()
        return [(item, p) for p in self.plugins if _key(p) in self._loaded for item in self._call(_key(p), hook)]

    def load_all(self) -> dict[str, str]:
        """Load every plugin; returns the load errors (plugin key → message)."""
        for plugin in self.plugins:
            self.load(plugin)
        return dict(self.load_errors)

    def _contributions(self, field: str) -> list[tuple[Any, PluginInfo]]:
        self.load_all()
        return [(item, p) for p in self.plugins if _key(p) in self._loaded for item in getattr(self._loaded[_key(p)], field)]

    # -- components --------------------------------------------------------------------
    def get(self, kind: str, name: str, path: str = "") -> Registered:
        """The registered component kind.name, loading only the plugins that declare it."""
        declared = self.declared().get((kind, name), [])
        dists = sorted({p.distribution for p in declared})
        if len(dists) > 1:
            raise PluginError("conflicting plugins", [Problem(path, (
                f"{kind} '{name}' is registered by two distributions: {' and '.join(repr(d) for d in dists)}. "
                "Uninstall one of them (pip uninstall <distribution>)."))])
        for plugin in declared:
            if self.load(plugin):
                for comp in self._loaded[_key(plugin)].components:
                    if (comp.kind, comp.name) == (kind, name):
                        return Registered(comp, plugin)
        raise PluginError("cannot build component", [self.missing_problem(kind, name, path)])

    def unloadable(self, kind: str, name: str, path: str) -> Problem | None:
        """Why the ``task`` or ``section`` ``name`` is missing when a plugin declares it in its metadata
        but cannot load (e.g. outside its aa-core range); None when no plugin declares it."""
        declared = self.declared().get((kind, name), [])
        if not declared or any(self.load(p) for p in declared):
            return None
        return self.missing_problem(kind, name, path)

    def not_loaded_note(self) -> str:
        """For an unknown task or section: the plugins that did not load (their undeclared tasks and
        sections are unknown), each with its reason, e.g. the aa-core range it was built for."""
        self.load_all()
        if not self.load_errors:
            return ""
        why = "; ".join(f"plugin '{key.split(':', 1)[0]}' failed to load: {err}" for key, err in sorted(self.load_errors.items()))
        return f". It may come from a plugin that did not load: {why}"

    def missing_problem(self, kind: str, name: str, path: str) -> Problem:
        declared = self.declared().get((kind, name), [])
        if declared:
            errs = [self.load_errors.get(_key(p)) for p in declared]
            why = "; ".join(f"plugin '{p.distribution}' failed to load: {e}" for p, e in zip(declared, errs) if e)
            return Problem(path, f"{kind} '{name}' is declared but could not be loaded ({why or 'the plugin did not register it'})")
        installed = self.names(kind)
        known = installed + [c.split(".", 1)[1] for _, comps in FIRST_PARTY.values() for c in comps if c.startswith(kind + ".")]
        hint = did_you_mean(name, known) if name not in known else ""
        msg = f"unknown {kind} '{name}'{hint}; installed {kind} components: {', '.join(installed) or 'none'}"
        provider = first_party_provider(kind, name)
        if provider:
            msg += f". It is provided by the first-party distribution {provider[0]}: install it with `pip install {provider[1]}` from the AA repository"
        else:  # a plugin that does not load (a misspelt entry point, outside its aa-core range) registers nothing
            msg += self.not_loaded_note()
        return Problem(path, msg)

    def all_components(self) -> list[Registered]:
        """Every registered component of every plugin that loads (used by the conformance tests)."""
        out = [Registered(c, p) for c, p in self._contributions("components")]
        return sorted(out, key=lambda r: (r.component.kind, r.component.name, r.plugin.distribution))

    # -- architectures, tasks, sections, commands ----------------------------------------
    def architecture_dirs(self) -> list[tuple[PluginInfo, list[Path]]]:
        """Folders of architecture TOMLs contributed by each plugin that loads."""
        out: dict[str, tuple[PluginInfo, list[Path]]] = {}
        for d, p in self._contributions("architectures"):
            out.setdefault(_key(p), (p, []))[1].append(Path(d))
        return list(out.values())

    def _by_name(self, field: str, what: str) -> dict[str, tuple[Any, PluginInfo]]:
        """name → (item, plugin); a name claimed by two distributions is left out and recorded in
        :meth:`clash`, so that it fails only the specs that use it."""
        out: dict[str, tuple[Any, PluginInfo]] = {}
        clashes: dict[str, set[str]] = {}
        for item, p in self._contributions(field):
            if item.name in out and out[item.name][1].distribution != p.distribution:
                clashes.setdefault(item.name, {out[item.name][1].distribution}).add(p.distribution)
            out.setdefault(item.name, (item, p))
        for name, dists in clashes.items():
            out.pop(name, None)
            self._clashes[(what, name)] = sorted(dists)
        return out

    def record_clash(self, what: str, name: str, distributions: list[str]) -> None:
        """Mark ``name`` as claimed by several distributions (e.g. a plugin section named like a core one)."""
        self._clashes[(what, name)] = sorted(set(distributions))

    def clash(self, what: str, name: str) -> Problem | None:
        """Why ``name`` (a ``task``, ``spec section`` or ``command``) cannot be used: two distributions claim it."""
        self._by_name({"task": "tasks", "spec section": "sections", "command": "commands"}[what], what)
        dists = self._clashes.get((what, name))
        if not dists:
            return None
        return Problem(name, f"the {what} '{name}' is provided by two distributions: {' and '.join(repr(d) for d in dists)}; "
                             "uninstall one of them (pip uninstall <distribution>)")

    def tasks(self) -> dict[str, tuple[Task, PluginInfo]]:
        return self._by_name("tasks", "task")

    def sections(self) -> dict[str, tuple[Section, PluginInfo]]:
        return self._by_name("sections", "spec section")

    def commands(self) -> dict[str, tuple[Command, PluginInfo]]:
        return self._by_name("commands", "command")


def _check_undecorated(module: Any, hook_names: Iterable[str] = HOOK_NAMES) -> None:
    """Functions named like hooks (``aa_*``) but not marked ``@hookimpl`` would be ignored silently."""
    marker = f"{_hookspecs.PROJECT}_impl"
    names = sorted({*hook_names, *_hookspecs.PLUGIN_HOOKS})
    for name, obj in vars(module).items():
        if name.startswith("aa_") and inspect.isfunction(obj) and obj.__module__ == module.__name__ and not hasattr(obj, marker):
            hint = "" if name in names else did_you_mean(name, names)
            raise PluginError(f"{module.__name__}.{name} looks like a hook but is not decorated with @hookimpl{hint}")


def _check_declared(plugin: PluginInfo, loaded: Loaded) -> None:
    """The components a hook returns must be exactly those the entry-point metadata declares; a task
    or section the metadata declares (optional) must be returned by ``aa_tasks`` / ``aa_spec_sections``."""
    returned = {(c.kind, c.name) for c in loaded.components}
    declared = {c for c in plugin.components if c[0] not in ("task", "section")}
    problems = []
    for kind, hook, items in (("task", "aa_tasks", loaded.tasks), ("section", "aa_spec_sections", loaded.sections)):
        names = {i.name for i in items}
        for k, name in sorted(plugin.components):
            if k == kind and name not in names:
                problems.append(f"declares {kind}.{name} in its aa.components entry points but {hook} does not return it"
                                f"{did_you_mean(name, sorted(names))}")
    if returned == declared and not problems:
        return
    for kind, name in sorted(declared - returned):
        others = [n for k, n in returned - declared if k == kind]
        problems.append(f"declares {kind}.{name} in its aa.components entry points but aa_components does not return it{did_you_mean(name, others)}")
    for kind, name in sorted(returned - declared):
        problems.append(f"aa_components returns {kind}.{name} but the aa.components entry points do not declare it "
                        f"(add \"{kind}.{name}\" = \"{plugin.module}\" to [project.entry-points.\"aa.components\"])")
    raise PluginError(f"distribution '{plugin.distribution}': " + "; ".join(problems))


_host: PluginHost | None = None


def host() -> PluginHost:
    """The process-wide plugin host."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def reset_host() -> None:
    """Forget the process-wide host (after installing or removing a plugin in-process)."""
    global _host
    _host = None
