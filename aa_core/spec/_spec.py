"""Spec files: TOML → validated, typed configs, with every problem reported at once."""
from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import attrs

from .._deprecated import REMOVE_IN
from .._errors import Problem, SpecError, UserError
from .._hashing import content_hash
from .._text import did_you_mean
from ..architectures import registry
from ..host import KINDS, MODEL_KINDS, MULTI_KINDS, PluginHost, Registered, first_party_provider, host
from ._convert import structure_config, unstructure
from ._sections import CORE_SECTIONS

# A kind whose table is absent gets this core component. Other defaults come only from a section
# the spec itself has (``Section.defaults``, e.g. aa-qa's [data]): a spec's resolved form and hash
# never depend on which plugins are installed (a spec with only geometry, cell and propagator is
# lattice-only whatever else is present).
DEFAULT_NAMES = {
    "geometry": "lattice",
    "cell": "mlp",
    "propagator": "nca",
    "adapter": "linear",
}
# A table given without a name (``[pipeline]`` with only settings) means the core's own component of that kind.
TABLE_DEFAULTS = {**DEFAULT_NAMES, "pipeline": "direct_embedding"}
TOP_LEVEL_KEYS = ("architecture", "description")
CALLBACKS = "callbacks"  # [callbacks.NAME] tables: the callback components a run adds to its trainer


@attrs.define
class Spec:
    """A validated spec: typed configs per section and the resolved raw tables they came from."""

    source: str
    raw: dict[str, Any]
    architecture: str | None
    components: dict[str, tuple[Registered, Any]]
    sections: dict[str, Any]
    callbacks: dict[str, tuple[Registered, Any]] = attrs.Factory(dict)
    overrides: list[str] = attrs.Factory(list)  # the --set values it was loaded with (a resume command repeats them)

    def command(self, *extra: str) -> str:
        """The ``aa run`` command line of this spec with its overrides (and ``extra`` arguments), shell-quoted."""
        import shlex

        return shlex.join(["aa", "run", self.source, *[a for o in self.overrides for a in ("--set", o)], *extra])

    def config(self, kind: str) -> Any:
        return self.components[kind][1] if kind in self.components else self.sections.get(kind)

    def name(self, kind: str) -> str | None:
        """The name of the spec's ``kind`` component (``"lattice"``, ``"mnist1d"``), or None when it has none."""
        return self.components[kind][0].component.name if kind in self.components else None

    def resolved(self) -> dict[str, Any]:
        """The fully resolved spec (defaults filled in) as plain TOML-able data."""
        out: dict[str, Any] = {}
        if self.architecture:
            out["architecture"] = self.architecture
        for kind, (reg, cfg) in self.components.items():
            out[kind] = {"name": reg.component.name, **unstructure(cfg)}
        for name, cfg in self.sections.items():
            out[name] = unstructure(cfg)
        if self.callbacks:
            out[CALLBACKS] = {name: unstructure(cfg) for name, (_reg, cfg) in self.callbacks.items()}
        return out

    def model_hash(self) -> str:
        """Content hash of the model-defining part of the spec (components only)."""
        model = {k: v for k, v in self.resolved().items() if k in MODEL_KINDS}
        return content_hash(model)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; syntax errors and missing files become a UserError naming the file. A UTF-8
    byte-order mark (some Windows editors save one) is skipped."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"spec file not found: {p} (check the path; run from the directory the path is relative to)")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError([Problem("", f"invalid TOML: {exc}")], source=str(p)) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem("", f"not UTF-8 text: {exc}")], source=str(p)) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``key.path=value`` → (["key", "path"], value); the value is read as TOML, else as a string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UserError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. --set cell.hidden=64")
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for k in keys[:-1]:
            if not isinstance(node.get(k, {}), dict):
                raise UserError(f"--set {text!r}: '{k}' is a value, not a table")
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return out


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def merge_over_architecture(base: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A spec's tables override its architecture's; a section naming another component replaces it."""
    out = copy.deepcopy(base)
    for key, value in spec.items():
        if key == "architecture":
            continue
        prior = out.get(key)
        if isinstance(value, dict) and isinstance(prior, dict) and value.get("name", prior.get("name")) == prior.get("name"):
            out[key] = deep_merge(prior, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _sections(plugins: PluginHost) -> dict[str, tuple[type, bool, str]]:
    """section name → (config class, optional, providing distribution): the core's and the plugins'."""
    out = {name: (cls, False, "aa-core") for name, cls in CORE_SECTIONS.items()}
    for name, (section, plugin) in plugins.sections().items():
        if name in CORE_SECTIONS:
            plugins.record_clash("spec section", name, ["aa-core", plugin.distribution])
            out.pop(name)
            continue
        out[name] = (section.config, section.optional, plugin.distribution)
    return out


def _section_defaults(raw: dict[str, Any], plugins: PluginHost) -> dict[str, str]:
    """kind → default component name, from the sections this spec has (``Section.defaults``) and the
    components it names (``Component.defaults``), in kind order."""
    out = dict(DEFAULT_NAMES)
    for name, (section, _plugin) in plugins.sections().items():
        if name in raw:
            out.update(section.defaults)
    for kind in KINDS:
        table = raw.get(kind)
        found = table.get("name", TABLE_DEFAULTS.get(kind)) if isinstance(table, dict) else out.get(kind)
        if not isinstance(found, str) or not plugins.declared().get((kind, found)):
            continue
        try:
            reg = plugins.get(kind, found)
        except UserError:
            continue  # reported when the component itself is resolved
        for k, v in reg.component.defaults.items():
            out.setdefault(k, v)
    return out


def _move_deprecated_keys(raw: dict[str, Any], plugins: PluginHost, source: str) -> dict[str, Any]:
    """Old keys that a section declares as moved (``Section.moved``) go to their new place, with a warning
    naming the release that removes them (the deprecation policy's ``REMOVE_IN``)."""
    import warnings

    moves = {old: (name, new) for name, (section, _p) in plugins.sections().items() for old, new in section.moved.items()}
    if not moves:
        return raw
    out = copy.deepcopy(raw)
    for old, (name, new) in moves.items():
        table, _, key = old.partition(".")
        if isinstance(out.get(table), dict) and key in out[table]:
            value = out[table].pop(key)
            target = out.setdefault(name, {})
            if isinstance(target, dict) and new not in target:
                target[new] = value
            warnings.warn(f"{source}: '{old}' moved to '{name}.{new}'; the old key is deprecated and will be removed in "
                          f"aa-core {REMOVE_IN}", DeprecationWarning, stacklevel=3)
    return out


def _unknown_section(key: str, known: list[str], plugins: PluginHost) -> Problem:
    unloadable = plugins.unloadable("section", key, key)  # declared by a plugin that cannot load (e.g. its aa-core range)
    if unloadable is not None:
        return unloadable
    provider = first_party_provider("section", key)
    hint = f"; it is provided by {provider[0]}: `pip install {provider[1]}` from the AA repository" if provider else plugins.not_loaded_note()
    return Problem(key, f"unknown section{did_you_mean(key, known)}; known sections: {', '.join(known)}{hint}")


def validate(raw: dict[str, Any], source: str = "<spec>", plugins: PluginHost | None = None) -> Spec:
    """Check a raw spec dict and build its typed configs, or raise SpecError listing every problem."""
    plugins = plugins or host()
    problems: list[Problem] = []
    architecture = raw.get("architecture")
    if architecture is not None:
        if not isinstance(architecture, str):
            problems.append(Problem("architecture", f"expected string 'name@version', got {architecture!r}"))
        else:
            try:
                base = registry().get(architecture).spec
                raw = merge_over_architecture(base, raw)
            except UserError as exc:
                problems.extend(exc.problems or [Problem("architecture", str(exc))])
    raw = _move_deprecated_keys(raw, plugins, source)
    section_types = _sections(plugins)
    defaults = _section_defaults(raw, plugins)
    known = list(KINDS) + list(section_types) + list(TOP_LEVEL_KEYS) + [CALLBACKS]
    for key, value in raw.items():
        clash = plugins.clash("spec section", key) if key not in KINDS and key not in TOP_LEVEL_KEYS and key != CALLBACKS else None
        if clash is not None:
            problems.append(clash)
        elif key not in known:
            problems.append(_unknown_section(key, known, plugins))
        elif key not in TOP_LEVEL_KEYS and not isinstance(value, dict):
            problems.append(Problem(key, f"expected a table [{key}], got {type(value).__name__}"))
    components: dict[str, tuple[Registered, Any]] = {}
    for kind in KINDS:
        table = raw.get(kind)
        if not isinstance(table, dict):
            if defaults.get(kind) is None:
                continue
            table = {}
        given = kind in raw and isinstance(raw.get(kind), dict)
        table = dict(table)
        name = table.pop("name", (TABLE_DEFAULTS if given else defaults).get(kind) or defaults.get(kind))
        if name is None:
            installed = plugins.names(kind)
            problems.append(Problem(f"{kind}.name", f"missing: name the {kind} component, e.g. name = \"{installed[0] if installed else '...'}\" "
                                                   f"(installed: {', '.join(installed) or 'none'})"))
            continue
        if not isinstance(name, str):
            problems.append(Problem(f"{kind}.name", f"expected string, got {name!r}"))
            continue
        try:
            reg = plugins.get(kind, name, f"{kind}.name")
        except UserError as exc:
            problems.extend(exc.problems or [Problem(f"{kind}.name", str(exc))])
            continue
        cfg, errs = structure_config(reg.component.config, table, kind)
        problems.extend(errs)
        if cfg is not None:
            components[kind] = (reg, cfg)
    callbacks = _callbacks(raw.get(CALLBACKS), plugins, problems)
    used = _used_sections(raw, components, callbacks, plugins)
    sections: dict[str, Any] = {}
    for name, (cls, _optional, dist) in section_types.items():
        table = raw.get(name)
        if dist != "aa-core" and table is None and name not in used:
            continue  # a plugin's section is resolved only when the spec has it or uses what reads it
        cfg, errs = structure_config(cls, table if isinstance(table, dict) else {}, name)
        problems.extend(errs)
        if cfg is not None:
            sections[name] = cfg
    problems.extend(_task_problems(raw, sections, components, plugins, problems))
    if problems:
        raise SpecError(problems, source=source)
    spec = Spec(source, raw, architecture, components, sections, callbacks)
    problems = cross_problems(spec)
    if problems:
        raise SpecError(problems, source=source)
    return spec


def cross_problems(spec: Spec) -> list[Problem]:
    """What the configs' cross-component checks (``check_with(spec)``: :class:`aa_core.protocols.CrossCheckedConfig`)
    find, once every table is valid on its own: a dataset whose examples do not fit the geometry, a pipeline that
    needs a two-dimensional face. Configs only: nothing is built, no data is read, nothing is written."""
    configs = [*(cfg for _reg, cfg in spec.components.values()), *spec.sections.values(), *(cfg for _reg, cfg in spec.callbacks.values())]
    out: list[Problem] = []
    for cfg in configs:
        check_with = getattr(cfg, "check_with", None)  # tested by name, as check() is: validation stays torch-free
        if callable(check_with):
            out.extend(Problem(path, message) for path, message in check_with(spec))
    return list({(p.path, p.message): p for p in out}.values())


def _used_sections(raw: dict[str, Any], components: dict[str, tuple[Registered, Any]],
                   callbacks: dict[str, tuple[Registered, Any]], plugins: PluginHost) -> set[str]:
    """The sections the spec's components, callbacks and tasks declare they read (``sections=``)."""
    used = {s for reg, _cfg in [*components.values(), *callbacks.values()] for s in reg.component.sections}
    run = raw.get("run") if isinstance(raw.get("run"), dict) else {}
    names = run.get("tasks", ["check"]) if isinstance(run, dict) else []
    tasks = plugins.tasks() if isinstance(names, list) and any(n not in ("check", "train", "test") for n in names) else {}
    for name in names if isinstance(names, list) else []:
        if isinstance(name, str) and name in tasks:
            used.update(tasks[name][0].sections)
    return used


def _callbacks(table: Any, plugins: PluginHost, problems: list[Problem]) -> dict[str, tuple[Registered, Any]]:
    """``[callbacks.NAME]`` tables → each callback component with its config (``{}``: its defaults)."""
    out: dict[str, tuple[Registered, Any]] = {}
    if table is None:
        return out
    if not isinstance(table, dict):
        problems.append(Problem(CALLBACKS, f"expected a table of callbacks, e.g. [callbacks.step_log] (one table per callback), got {type(table).__name__}"))
        return out
    for name, settings in table.items():
        path = f"{CALLBACKS}.{name}"
        if not isinstance(settings, dict):
            problems.append(Problem(path, f"expected a table of the callback's settings ({{}} for its defaults), got {settings!r}"))
            continue
        try:
            reg = plugins.get(MULTI_KINDS[0], name, path)
        except UserError as exc:
            problems.extend(exc.problems or [Problem(path, str(exc))])
            continue
        cfg, errs = structure_config(reg.component.config, settings, path)
        problems.extend(errs)
        if cfg is not None:
            out[name] = (reg, cfg)
    return out


def _task_problems(raw: dict[str, Any], sections: dict[str, Any], components: dict[str, Any], plugins: PluginHost,
                   found: list[Problem] | None = None) -> list[Problem]:
    """Every run.tasks entry names an installed task, and the sections it needs are present. A component
    whose table already has a problem (in ``found``) is missing for that reason alone: not reported twice."""
    failed = {p.path.split(".")[0].split("[")[0] for p in found or []}
    run = sections.get("run")
    if run is None:
        return []
    tasks = plugins.tasks()
    out = []
    for i, name in enumerate(run.tasks):
        clash = plugins.clash("task", name)
        if clash is not None:
            out.append(Problem(f"run.tasks[{i}]", clash.message))
            continue
        if name not in tasks:
            unloadable = plugins.unloadable("task", name, f"run.tasks[{i}]")  # declared by a plugin that cannot load
            if unloadable is not None:
                out.append(unloadable)
                continue
            provider = first_party_provider("task", name)
            hint = f"; it is provided by {provider[0]}: `pip install {provider[1]}` from the AA repository" if provider else plugins.not_loaded_note()
            out.append(Problem(f"run.tasks[{i}]", f"unknown task {name!r}{did_you_mean(name, tasks)}; installed tasks: {', '.join(sorted(tasks))}{hint}"))
            continue
        for need in tasks[name][0].needs:
            if need in KINDS and need not in components and need not in failed:
                out.append(Problem(need, f"task {name!r} of run.tasks needs a {need}: add a [{need}] table naming one "
                                         f"(installed: {', '.join(plugins.names(need)) or 'none'}), or a section that brings "
                                         "one (aa-qa's [data] brings qa_pairs)"))
            elif need not in KINDS and need not in raw and need not in sections:
                out.append(Problem(need, f"run.tasks {run.tasks} need a [{need}] section (task {name!r})"))
    return list({(p.path, p.message): p for p in out}.values())


def load_spec(path: str | Path, overrides: list[str] | None = None, plugins: PluginHost | None = None) -> Spec:
    """Read, override and validate a spec file.

    Relative input paths (config fields marked with :func:`aa_core.plugin.path_field`) are resolved
    against the spec file's folder; those given with ``--set`` against the current folder.
    """
    raw = read_toml(path)
    overridden = {".".join(parse_override(o)[0]) for o in overrides or []}
    raw = apply_overrides(raw, overrides or [])
    spec = validate(raw, str(path), plugins)
    spec.overrides = [o for o in overrides or [] if not o.startswith(("run.resume=", "run.allow_change=", "run.force="))]
    _resolve_paths(spec, Path(path).resolve().parent, overridden)
    return spec


PATH_METADATA = "aa_path"


def _resolve_paths(spec: Spec, base: Path, overridden: set[str]) -> None:
    """Make every relative path field absolute: spec-file folder, or the CWD for ``--set`` keys."""
    configs = [(kind, cfg) for kind, (_reg, cfg) in spec.components.items()] + list(spec.sections.items())
    for table, cfg in configs:
        for field in attrs.fields(type(cfg)):
            value = getattr(cfg, field.name)
            if not field.metadata.get(PATH_METADATA) or not isinstance(value, str) or Path(value).is_absolute():
                continue
            root = Path.cwd() if f"{table}.{field.name}" in overridden else base
            setattr(cfg, field.name, str((root / value).resolve()))
