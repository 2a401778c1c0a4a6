"""The one way back from a checkpoint to a working model: build from the saved spec, load weights,
restore every component's non-parameter state (e.g. a phrase bank's texts)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from .._errors import Problem, UserError
from ..assemble import BuildContext, build_model
from ._format import Checkpoint, load_checkpoint


@attrs.define
class Restored:
    """A checkpoint made usable: its model in eval mode and the context of its built components."""

    checkpoint: Checkpoint
    model: Any
    ctx: BuildContext

    def component(self, kind: str) -> Any:
        """A component restored with its saved state (None when the checkpoint holds none of ``kind``)."""
        return self.ctx.built.get(kind)


def component_state(ctx: BuildContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """(extra_json, extra_tensors) of every built component that keeps state outside its parameters.

    A component opts in with ``to_extra() -> (json, tensors)`` and ``load_extra(json, tensors)``;
    its entry is keyed by its slot and records the component's name.
    """
    extra_json: dict[str, Any] = {}
    extra_tensors: dict[str, Any] = {}
    for slot, obj in ctx.built.items():
        if not hasattr(obj, "to_extra"):
            continue
        j, t = obj.to_extra()
        kind = slot.split(":")[0]
        name = ctx.spec.components[kind][0].component.name if kind in ctx.spec.components else getattr(obj, "component_name", kind)
        extra_json[slot] = {"name": name, **j}
        extra_tensors.update({f"{slot}.{k}": v for k, v in t.items()})
    return extra_json, extra_tensors


def load_weights(model: Any, state_dict: dict[str, Any], where: str = "checkpoint") -> None:
    """Strictly load ``state_dict`` into ``model``; mismatches become a UserError listing them.

    Missing and unexpected keys are the ones ``load_state_dict`` reports, so a module that renames its
    old parameter names on load (``_load_from_state_dict``) still loads checkpoints saved before the rename."""
    own = model.state_dict()
    problems = [
        Problem(k, f"shape {tuple(state_dict[k].shape)} in the checkpoint, {tuple(v.shape)} in the model")
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if problems:
        raise UserError(f"{where}: weights do not fit the model built from its spec", problems)
    try:
        result = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as exc:  # a shape mismatch behind a module's own key renaming
        raise UserError(f"{where}: weights do not fit the model built from its spec: {exc}") from None
    problems = [Problem(k, "missing from the checkpoint") for k in result.missing_keys]
    problems += [Problem(k, "in the checkpoint but not in the model") for k in result.unexpected_keys]
    if problems:
        raise UserError(f"{where}: weights do not fit the model built from its spec", problems)


def restore(checkpoint: Checkpoint | str | Path) -> Restored:
    """Load (if given a folder) and verify a checkpoint, rebuild its model and components' state."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    model, ctx = build_model(ckpt.spec)
    load_weights(model, ckpt.state_dict, f"checkpoint {ckpt.path}")
    for slot, info in (ckpt.extra_json or {}).items():
        if not isinstance(info, dict) or "name" not in info:
            continue
        kind, _, key = slot.partition(":")
        obj = ctx.build(kind, key=key or None, default=info["name"])
        if not hasattr(obj, "load_extra"):
            raise UserError(f"checkpoint {ckpt.path}: extra.json holds state for {slot} ({info['name']}), which cannot load it")
        tensors = {k[len(slot) + 1:]: v for k, v in ckpt.extra_tensors.items() if k.startswith(slot + ".")}
        obj.load_extra(info, tensors)
    model.eval()
    return Restored(ckpt, model, ctx)


def build_from_checkpoint(ckpt: Checkpoint) -> tuple[Any, BuildContext]:
    """(model, ctx) of a checkpoint, restored (kept for callers of the 0.1 API)."""
    r = restore(ckpt)
    return r.model, r.ctx
