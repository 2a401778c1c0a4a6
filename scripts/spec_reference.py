"""The spec reference, generated from what is installed: every spec section and every component
(through the plugin host), each with its attrs config's fields, types, defaults and validators.

    python scripts/spec_reference.py > spec-reference.md

The docs site calls :func:`markdown` from its build hook (scripts/mkdocs_hooks.py), so the
reference always matches the installed code.
"""
from __future__ import annotations

import inspect
import sys
import typing
from typing import Any

import attrs


def _type_name(tp: Any) -> str:
    if isinstance(tp, str):
        return tp
    if tp is None or tp is type(None):
        return "None"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _default(field: attrs.Attribute) -> str:
    d = field.default
    if d is attrs.NOTHING:
        return "required"
    if isinstance(d, attrs.Factory):  # type: ignore[arg-type]
        if getattr(d, "takes_self", False):
            return "computed"
        try:
            return repr(d.factory())
        except Exception:  # noqa: BLE001 - a factory that needs arguments: name it
            return f"{getattr(d.factory, '__name__', 'factory')}()"
    return repr(d)


def describe_validator(v: Any) -> str:
    """A readable description of an attrs validator (aa_core.validators, attrs' own, and combinations)."""
    if v is None:
        return ""
    inner = getattr(v, "_validators", None)  # attrs.validators.and_
    if inner is not None:
        return "; ".join(filter(None, (describe_validator(x) for x in inner)))
    if isinstance(v, (list, tuple)):
        return "; ".join(filter(None, (describe_validator(x) for x in v)))
    qual = getattr(v, "__qualname__", "")
    if ".<locals>." in qual and getattr(v, "__closure__", None):
        factory = qual.split(".<locals>.")[0]
        env = {name: cell.cell_contents for name, cell in zip(v.__code__.co_freevars, v.__closure__)}
        if factory == "in_range":
            return f"between {env.get('lo')} and {env.get('hi')}"
        if factory == "one_of":
            return "one of " + ", ".join(repr(c) for c in env.get("allowed", ()))
        if factory == "length":
            return f"exactly {env.get('n')} items"
        return f"{factory}({', '.join(f'{k}={val!r}' for k, val in env.items() if not callable(val))})"
    if inspect.isfunction(v):
        doc = (inspect.getdoc(v) or "").splitlines()
        return doc[0].rstrip(".") if doc else v.__name__
    text = repr(v)
    return text.strip("<>")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """A table cell's code span (a pipe inside backticks does not split a Markdown table cell)."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def fields_table(cls: type, prefix: str = "") -> list[str]:
    """Markdown table rows (and nested tables) for an attrs config class."""
    if not attrs.has(cls):
        return [f"*(configured by `{cls.__module__}.{cls.__qualname__}`, not an attrs class)*", ""]
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable annotations: show them as written
        hints = {}
    rows = ["| key | type | default | checked |", "|---|---|---|---|"]
    nested = []
    for f in attrs.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        tp = hints.get(f.name, f.type)
        rows.append(f"| {_code(prefix + f.name)} | {_code(_type_name(tp))} | {_code(_default(f))} | {_md(describe_validator(f.validator))} |")
        if isinstance(tp, type) and attrs.has(tp):
            nested.append((f.name, tp))
    out = rows + [""]
    for name, tp in nested:
        out += [f"`{prefix}{name}` is a table:", ""] + fields_table(tp, prefix=f"{prefix}{name}.")
    return out


def _doc(cls: type) -> list[str]:
    doc = inspect.getdoc(cls) or ""
    own = cls.__doc__ and not (doc.startswith(cls.__name__ + "(") or doc == inspect.getdoc(object))
    return [doc, ""] if own and doc else []


def markdown() -> str:
    """The whole reference as Markdown."""
    from aa_core._api import API_VERSION
    from aa_core._version import __version__
    from aa_core.host import KINDS, host

    h = host()
    errors = h.load_all()
    out = [
        f"Generated from the installed distributions when the site was built (aa-core {__version__}, plugin API {API_VERSION}): "
        "each table lists a config's keys with their types, defaults and the checks applied when a spec is loaded "
        "(`aa check SPEC` reports a failing key with its file and path).",
        "",
    ]
    if errors:
        out += ["!!! warning \"Plugins that failed to load (their components are missing below)\"", ""]
        out += [f"    - `{k}`: {_md(v)}" for k, v in sorted(errors.items())] + [""]
    out += ["## Sections", ""]
    for name, (section, plugin) in sorted(h.sections().items()):
        flags = " (optional)" if section.optional else ""
        out += [f"### `[{name}]`{flags}", "", f"From **{plugin.distribution}**. {section.description}".rstrip(), ""]
        if getattr(section, "defaults", None):
            out += ["A spec with this section gets, for the kinds it leaves out: " + ", ".join(f"{k} `{v}`" for k, v in sorted(section.defaults.items())) + ".", ""]
        if getattr(section, "moved", None):
            out += ["Moved keys (still read, with a warning): " + ", ".join(f"`{o}` → `{name}.{n}`" for o, n in sorted(section.moved.items())) + ".", ""]
        out += _doc(section.config) + fields_table(section.config)
    out += ["## Components", "", "A spec's `[KIND]` table names the component (`name = \"...\"`); its other keys are the config below.", ""]
    by_kind: dict[str, list] = {}
    for reg in h.all_components():
        by_kind.setdefault(reg.component.kind, []).append(reg)
    for kind in KINDS:
        if kind not in by_kind:
            continue
        out += [f"### {kind}", ""]
        for reg in sorted(by_kind[kind], key=lambda r: r.component.name):
            c = reg.component
            out += [f"#### `{kind}.{c.name}`", "", f"From **{reg.plugin.distribution}** {reg.plugin.version}. {c.description}".rstrip(), ""]
            out += _doc(c.config) + fields_table(c.config)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
