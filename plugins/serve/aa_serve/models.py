"""The served checkpoints: their descriptions, versions and the task handler serving each, chosen before
binding (torch-free); each is restored by its handler in the model thread.

A model's version is the first 12 hex digits of the sha256 of its weights' *tensors* (name, dtype, shape
and bytes of each, in name order), not of the weights file: two files holding the same tensors (saved by
different runs, with another header or tensor order) are one version.
"""
from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from aa_core.plugin import UserError, finite_only
from aa_core.run import read_metadata, resolve_checkpoint

from .api import ServeHandler, ServePage, dataset_name

WEIGHTS = "model.safetensors"
_CHUNK = 1 << 20


def tensors_sha256(path: Path) -> str | None:
    """sha256 of the tensors of the safetensors file ``path``: each tensor's name, dtype and shape, then its
    bytes, in name order; the header's ``__metadata__`` and the layout of the file do not count (torch-free).
    None when the file cannot be read so (loading it then says what is wrong, naming the checkpoint)."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
            base = 8 + n
            h = hashlib.sha256()
            for name in sorted(k for k in header if k != "__metadata__"):
                info = header[name]
                start, end = (int(v) for v in info["data_offsets"])
                h.update(json.dumps([name, info["dtype"], info["shape"], end - start]).encode())
                f.seek(base + start)
                left = end - start
                while left > 0:
                    chunk = f.read(min(_CHUNK, left))
                    if not chunk:
                        return None  # truncated
                    h.update(chunk)
                    left -= len(chunk)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error):
        return None
    return h.hexdigest()


@attrs.define
class ServedModel:
    id: str
    path: Path  # the checkpoint folder itself (a run folder's best one)
    metadata: dict[str, Any]
    handler: ServeHandler  # the task handler that claimed it
    weights_hash: str = ""  # tensors_sha256 of its weights: the version
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
        return self.weights_hash[:12]

    def has_version(self, prefix: str) -> bool:
        """Whether ``prefix`` starts its version's hash (or, as before versions hashed tensors, its weights file's)."""
        return self.weights_hash.startswith(prefix) or self.checkpoint_hash.startswith(prefix)

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
            "weights_hash": self.weights_hash,
            "model_hash": m.get("model_hash"), "data_hash": m.get("dataset_hash"), "data_sizes": m.get("data_sizes"),
            "params": m.get("params"), "created": m.get("created"), "metrics": m.get("metrics") or {},
            "warnings": self.warnings,
        })


def installed_handlers() -> list[tuple[ServeHandler, str]]:
    """(handler, distribution) of every installed plugin's ``aa_serve_handlers`` hook (aa-serve's own generic one included)."""
    from aa_core.run import host

    out = []
    for h, p in host().collect("aa_serve_handlers"):
        if not isinstance(h, ServeHandler):
            raise UserError(f"the aa_serve_handlers hook of {p.distribution} returned a {type(h).__name__}, not an "
                            "aa_serve.ServeHandler; fix or uninstall that distribution (pip uninstall <distribution>)")
        out.append((h, p.distribution))
    return out


def installed_pages() -> list[tuple[ServePage, str]]:
    """(page, distribution) of every installed plugin's ``aa_serve_pages`` hook (aa-export's ``/live``); a
    hook that returns something else is reported on stderr and left out."""
    import sys

    from aa_core.run import host

    out = []
    for page, p in host().collect("aa_serve_pages"):
        if isinstance(page, ServePage):
            out.append((page, p.distribution))
        else:
            print(f"aa serve: warning: the aa_serve_pages hook of {p.distribution} returned a {type(page).__name__}, not an "
                  "aa_serve.ServePage; its page is left out", file=sys.stderr, flush=True)
    return out


def installed_datasets() -> set[str]:
    """The dataset components installed plugins declare (metadata only)."""
    from aa_core.run import host

    return set(host().names("dataset"))


def choose(path: Path, meta: Mapping[str, Any], handlers: Sequence[tuple[ServeHandler, str]],
           datasets: set[str] | None = None) -> ServeHandler:
    """The one handler that claims the checkpoint at ``path`` (a fallback handler only when no other does, and
    only for an installed ``datasets`` name); none or several is a UserError naming them."""
    claiming = [(h, d) for h, d in handlers if h.claims(meta) and not h.fallback]
    if not claiming:
        name = dataset_name(meta)
        installed = installed_datasets() if datasets is None else datasets
        claiming = [(h, d) for h, d in handlers if h.fallback and h.claims(meta) and name in installed]
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
            weights = meta.get("weights") if isinstance(meta.get("weights"), dict) else {}
            content = tensors_sha256(path / str(weights.get("file") or WEIGHTS)) or str(weights.get("sha256", ""))  # damaged: loading says how
            self.models.append(ServedModel(self._unique(name or self._default_name(Path(folder), path)), path, meta, handler, content))
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
        """The model named ``key``: its id, its version (a prefix of ≥ 6 characters of its weights' hash) or ``id@version``."""
        if not key:
            return self.models[0]
        name, _, version = key.partition("@")
        for m in self.models:
            if m.id == key or (version and m.id == name and m.has_version(version)):
                return m
        if len(key) >= 6:
            found = [m for m in self.models if m.has_version(key)]
            if len(found) == 1:
                return found[0]
        return None
