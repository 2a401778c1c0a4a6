"""The ``check`` task: build a spec's model (meta device first) and describe every component."""
from __future__ import annotations

from typing import Any

from .._errors import UserError
from .._table import table
from ..assemble import available_bytes, build_model, count_params, forward_bytes, human_bytes, model_kind
from ..spec import Spec
from ._preflight import describe_memory, memory_estimates, memory_problems

REAL_BUILD_LIMIT = 100_000_000  # parameters; larger models are checked on the meta device


def describe(spec: Spec) -> str:
    """Build the model of a validated spec and describe each component.

    The model is first built on torch's meta device (no weights allocated); unless it has more
    than ``REAL_BUILD_LIMIT`` parameters it is then built for real, so that construction
    itself is checked too.
    """
    try:
        model, ctx = build_model(spec, meta=True)
        on_meta = count_params(model) > REAL_BUILD_LIMIT
    except Exception:  # noqa: BLE001 - a component that cannot live on meta is checked for real
        on_meta = False
    if not on_meta:
        model, ctx = build_model(spec)
    top = model_kind(spec)
    if "decoder" in spec.components and "decoder" not in ctx.built:
        ctx.build("decoder")  # not part of the model, but listed (with its parameters, if any)
    rows: list[list[Any]] = []
    counted: set[int] = set()
    for slot, obj in ctx.built.items():
        kind = slot.split(":")[0]
        reg, _ = spec.components[kind]
        own = 0
        if hasattr(obj, "parameters"):
            own = sum(p.numel() for p in obj.parameters() if id(p) not in counted and not counted.add(id(p)))  # type: ignore[func-returns-value]
        if slot != top:
            rows.append([slot, reg.component.name, reg.plugin.distribution, reg.plugin.version, own, _detail(obj)])
    reg, _ = spec.components[top]
    total = count_params(model)
    rows = [r[:4] + [f"{r[4]:,} ({100 * r[4] / max(total, 1):.1f} %)"] + r[5:] for r in rows]
    rows.append([top, reg.component.name, reg.plugin.distribution, reg.plugin.version, f"{total:,} total", _detail(model) if top != "pipeline" else ""])
    out = [f"spec: {spec.source}  (model hash {spec.model_hash()[:12]})"]
    if spec.architecture:
        out.append(f"architecture: {spec.architecture}")
    out.append(table(["component", "name", "distribution", "version", "params", "detail"], rows))
    out.extend(_task_lines(spec, ctx))
    forward = forward_bytes(model, ctx)
    out.append(f"estimated memory for one forward pass (batch 1, fp32): {human_bytes(forward)}")
    out.extend(describe_memory(spec, model, ctx))
    if on_meta:
        out.append(f"(built on the meta device only: {total:,} parameters would take {human_bytes(4 * total)} in fp32)")
    run = spec.sections.get("run")
    if run is not None and not run.force:
        estimates = {"one forward pass": forward, **memory_estimates(spec, [t for t in run.tasks if t != "check"])}
        problems = memory_problems(estimates, available_bytes())
        if problems:
            raise UserError("\n".join(out) + f"\n{spec.source}: the model does not fit in memory", problems)
    return "\n".join(out)


def _task_lines(spec: Spec, ctx: Any) -> list[str]:
    """What the spec trains on and with: its dataset, its objective (built: it reads no data) and the selection
    it makes, its callbacks. A ``select_on`` the objective does not report is refused here, before any data is read."""
    from ..protocols import Objective
    from ..train.objective import check_selection, selection

    out = []
    if "dataset" in spec.components:
        reg, _ = spec.components["dataset"]
        out.append(f"dataset: {reg.component.name} ({reg.plugin.distribution} {reg.plugin.version}; read when a task needs it)")
    if "objective" in spec.components:
        reg, _ = spec.components["objective"]
        objective = ctx.build("objective")
        if isinstance(objective, Objective):
            check_selection(spec.sections["train"], objective)
            metric, sign = selection(spec.sections["train"], objective)
            reported = f" of {', '.join(objective.metrics)}" if objective.metrics else ""
            out.append(f"objective: {reg.component.name} ({reg.plugin.distribution}); selects on {metric} ({'max' if sign > 0 else 'min'}){reported}")
    for name, (reg, _cfg) in spec.callbacks.items():
        out.append(f"callback: {name} ({reg.plugin.distribution} {reg.plugin.version})")
    return out


def _detail(obj: Any) -> str:
    if hasattr(obj, "num_cells"):
        return f"{repr(obj)}, {obj.num_cells:,} cells"
    if hasattr(obj, "in_dim") and hasattr(obj, "out_dim"):
        return f"{obj.in_dim} → {obj.out_dim}"
    if hasattr(obj, "texts") and hasattr(obj, "__len__"):
        return f"{len(obj):,} phrases (fitted on training answers at run time)"
    if hasattr(obj, "embedding_dim") and not hasattr(obj, "parameters"):
        return f"{obj.embedding_dim}-d"
    if hasattr(obj, "steps"):
        return f"{obj.steps} steps"
    if hasattr(obj, "channels"):
        return f"C={obj.channels}"
    return ""


def run_task(spec: Spec, state: dict[str, Any]) -> None:
    print(describe(spec), flush=True)
