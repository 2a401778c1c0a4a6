"""Strict TOML-value → attrs config conversion that collects every problem with its key path."""
from __future__ import annotations

import types
import typing
from typing import Any

import attrs
import cattrs

from .._errors import Problem
from .._text import did_you_mean

_converter = cattrs.Converter(forbid_extra_keys=True)


def _strict(kind: type, label: str):
    def hook(value: Any, _type: type) -> Any:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"got bool {value!r}")
        if not isinstance(value, kind):
            raise TypeError(f"got {type(value).__name__} {value!r}")
        return value

    return hook


for _t, _label in ((int, "int"), (float, "float"), (str, "string"), (bool, "bool")):
    _converter.register_structure_hook(_t, _strict(_t, _label))


def type_name(tp: Any) -> str:
    """Readable name of a config field type for error messages."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is dict:
        return "table"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(_describe(e) for e in exc.exceptions)
    return str(exc)


def structure_config(cls: type, table: dict[str, Any], prefix: str) -> tuple[Any | None, list[Problem]]:
    """Build ``cls`` from a TOML table, returning the instance or every problem found.

    Unknown keys (with a did-you-mean), missing keys, wrong types and failed validators are
    all reported, each under ``prefix.key``.
    """
    problems: list[Problem] = []
    fields = {f.name: f for f in attrs.fields(cls)}
    typing_hints = typing.get_type_hints(cls)
    for key in table:
        if key not in fields:
            problems.append(Problem(f"{prefix}.{key}", f"unknown key{did_you_mean(key, fields)}; known keys: {', '.join(sorted(fields))}"))
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if not field.init:
            continue
        if name not in table:
            if field.default is attrs.NOTHING:
                problems.append(Problem(f"{prefix}.{name}", f"missing required key (expected {type_name(typing_hints[name])})"))
            continue
        if isinstance(table[name], str) and _is_list_type(typing_hints[name]):
            problems.append(Problem(f"{prefix}.{name}", f"expected {type_name(typing_hints[name])}, got string {table[name]!r} "
                                    f"(write a list: [{table[name]!r}])"))
            continue
        try:
            values[name] = _converter.structure(table[name], typing_hints[name])
        except Exception as exc:  # noqa: BLE001 - every conversion failure is a user problem
            problems.append(Problem(f"{prefix}.{name}", f"expected {type_name(typing_hints[name])}, {_describe(exc)}"))
            continue
        validators = field.validator
        for validator in getattr(validators, "_validators", None) or ([validators] if validators else []):
            try:
                validator(None, field, values[name])
            except (ValueError, TypeError) as exc:
                problems.append(Problem(f"{prefix}.{name}", str(exc)))
    if problems:
        return None, problems
    instance = cls(**values)
    if hasattr(instance, "check"):
        for path, message in instance.check():
            problems.append(Problem(f"{prefix}.{path}" if path else prefix, message))
    return (None if problems else instance), problems


def _is_list_type(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return bool(args) and all(_is_list_type(a) for a in args)
    return origin in (list, tuple)


def unstructure(config: Any) -> dict[str, Any]:
    """A config back to plain TOML-able values (for hashing, checkpoints and printing)."""
    return _converter.unstructure(config)
