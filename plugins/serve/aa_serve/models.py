"""The served checkpoints: their descriptions and the task handler serving each, chosen before binding
(torch-free); each is restored by its handler in the model thread."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from aa_core.plugin import ServeHandler, UserError, finite_only
from aa_core.run import read_metadata, resolve_checkpoint


@attrs.define
class ServedModel:
    id: str
    path: Path  # the checkpoint folder itself (a run folder's best one)
    metadata: dict[str, Any]
    handler: ServeHandler  # the task handler that claimed it
    status: str = "loading"  # loading | ready | failed
    error: str | None = None
    warnings: list[str] = attrs.Factory(list)
    loaded: Any = None  # what the handler's load returned

    @property
    def checkpoint_hash(self) -> str:
        weights = self.metadata.get("weights")
        return str(weights.get("sha256", "")) if isinstance(weights, dict) else ""

    @property
    def version(self) -> str:
        return self.checkpoint_hash[:12]

    def describe(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """What /v1/models says of this model, plus its handler's ``extra`` fields; NaN/inf values become null."""
        m = self.metadata
        arch = m.get("architecture") if isinstance(m.get("architecture"), dict) else None
        return finite_only({
            **extra,
            "id": self.id, "version": self.version, "task": self.handler.name, "status": self.status, "error": self.error,
            "architecture": arch.get("key") if arch else None,
            "components": {kind: f"{(m.get('spec') or {}).get(kind, {}).get('name')}" for kind in ("cell", "propagator", "adapter", "decoder", "pipeline")
                           if isinstance((m.get("spec") or {}).get(kind), dict)},
            "plugins": m.get("plugins") or {}, "checkpoint": str(self.path), "checkpoint_hash": self.checkpoint_hash,
            "model_hash": m.get("model_hash"), "data_hash": m.get("dataset_hash"), "data_sizes": m.get("data_sizes"),
            "params": m.get("params"), "created": m.get("created"), "metrics": m.get("metrics") or {},
            "warnings": self.warnings,
        })


def installed_handlers() -> list[tuple[ServeHandler, str]]:
    """(handler, distribution) of every installed plugin's ``aa_serve_handlers`` hook."""
    from aa_core.run import host

    return [(h, p.distribution) for h, p in host().serve_handlers()]


def choose(path: Path, meta: Mapping[str, Any], handlers: Sequence[tuple[ServeHandler, str]]) -> ServeHandler:
    """The one handler that claims the checkpoint at ``path``; none or several is a UserError naming them."""
    claiming = [(h, d) for h, d in handlers if h.claims(meta)]
    if len(claiming) == 1:
        return claiming[0][0]
    listed = "; ".join(f"'{h.name}' of {d} ({h.what()})" for h, d in handlers) or "none"
    if claiming:
        raise UserError(f"checkpoint {path}: several serve handlers claim it: {', '.join(f'{h.name!r} of {d}' for h, d in claiming)}; "
                        "uninstall one of those distributions (pip uninstall <distribution>)")
    spec: dict[str, Any] = meta["spec"] if isinstance(meta.get("spec"), dict) else {}
    dataset = spec.get("dataset", {}).get("name") if isinstance(spec.get("dataset"), dict) else None
    what = f"its dataset is '{dataset}'" if dataset else f"its spec has no dataset, only [{'], ['.join(sorted(spec))}]"
    from aa_core.run import host

    broken = host().load_errors
    note = f". Plugins that failed to load: {'; '.join(f'{k}: {v}' for k, v in sorted(broken.items()))}" if broken else ""
    raise UserError(f"checkpoint {path}: no installed plugin serves it ({what}); installed serve handlers: {listed}. "
                    f"Install the plugin of the task that trained it (one whose aa_serve_handlers hook claims it), or serve another checkpoint{note}")


class ModelPool:
    """The models in command-line order; the first is the default."""

    def __init__(self, checkpoints: list[tuple[str | None, Path]], handlers: Sequence[tuple[ServeHandler, str]] | None = None):
        self.models: list[ServedModel] = []
        if handlers is None:
            handlers = installed_handlers()
        for name, folder in checkpoints:
            path = resolve_checkpoint(folder)
            meta = read_metadata(path)  # a missing or damaged checkpoint is a UserError before anything binds
            handler = choose(path, meta, handlers)
            self.models.append(ServedModel(self._unique(name or self._default_name(Path(folder), path)), path, meta, handler))
        names = [h.name for h in self.handlers()]
        for twice in sorted({n for n in names if names.count(n) > 1}):
            dists = sorted({d for h, d in handlers if h.name == twice})
            raise UserError(f"two serve handlers named '{twice}' ({' and '.join(dists)}) serve these checkpoints; "
                            "uninstall one of those distributions (pip uninstall <distribution>)")

    @staticmethod
    def _default_name(given: Path, path: Path) -> str:
        return given.resolve().name if given.resolve() != path.resolve() else path.resolve().name

    def _unique(self, name: str) -> str:
        taken = {m.id for m in self.models}
        out, i = name, 2
        while out in taken:
            out, i = f"{name}-{i}", i + 1
        return out

    @property
    def ready(self) -> bool:
        return all(m.status == "ready" for m in self.models)

    def handlers(self) -> list[ServeHandler]:
        """The handlers in use, in the order of their first model."""
        out: list[ServeHandler] = []
        for m in self.models:
            if m.handler not in out:
                out.append(m.handler)
        return out

    def get(self, key: str | None) -> ServedModel | None:
        """The model named ``key``: its id, its version (a checkpoint-hash prefix of ≥ 6 characters) or ``id@version``."""
        if not key:
            return self.models[0]
        name, _, version = key.partition("@")
        for m in self.models:
            if m.id == key or (version and m.id == name and m.checkpoint_hash.startswith(version)):
                return m
        if len(key) >= 6:
            found = [m for m in self.models if m.checkpoint_hash.startswith(key)]
            if len(found) == 1:
                return found[0]
        return None
