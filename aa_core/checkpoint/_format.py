"""The checkpoint format: writing and verified reading of a checkpoint folder.

Weights are never pickled: loading a checkpoint from a stranger cannot run code. Each file
is written to a temporary name and moved into place with ``os.replace``; metadata.json is
written last and records the weights' sha256, so a checkpoint interrupted half-way is
detected instead of silently mixing two saves. The folder itself is written under a staging
name and switched into place whole (:mod:`._disk`), so an existing checkpoint (``final/``) is
never seen half-replaced.
"""
from __future__ import annotations

import json
import os
import struct
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from .._errors import Problem, SpecError, UserError
from .._fs import atomic_path, write_json
from .._hashing import content_hash, file_sha256
from .._version import __version__
from ..architectures import registry
from ..host import MODEL_KINDS
from ..spec import Spec, diff_specs, validate
from ._disk import checkpoint_bytes, checkpoint_folder, is_staging
from ._provenance import code_revision, installed_versions, spec_plugins
from ._runs import resolve_checkpoint

FORMAT = "aa-checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
METADATA = "metadata.json"
EXTRA_JSON = "extra.json"
EXTRA_PREFIX = "extra/"


class CheckpointWarning(UserWarning):
    """A checkpoint that loads but was made under different circumstances (plugin versions)."""


@attrs.define
class Checkpoint:
    """A loaded, verified checkpoint."""

    path: Path
    metadata: dict[str, Any]
    spec: Spec  # validated from the saved resolved spec
    state_dict: dict[str, Any]
    extra_tensors: dict[str, Any]
    extra_json: dict[str, Any]

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("architecture")
        return arch.get("key") if isinstance(arch, dict) else None


# -- writing -------------------------------------------------------------------------------


def architecture_info(spec) -> dict[str, Any] | None:
    """name, version, key and registry hash of the architecture a spec starts from."""
    if not spec.architecture:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        arch = registry().get(spec.architecture)
    return {"key": arch.key, "name": arch.name, "version": arch.version, "hash": arch.hash, "source": arch.source}


def _model_part(resolved: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resolved.items() if k in MODEL_KINDS}


def save_checkpoint(
    directory: str | Path,
    *,
    model,
    spec,
    metadata: dict[str, Any] | None = None,
    extra_tensors: dict[str, Any] | None = None,
    extra_json: dict[str, Any] | None = None,
    beside: Callable[[Path], Any] | None = None,
    need_bytes: int | None = None,
) -> Path:
    """Write ``model``'s weights and the provenance of ``spec`` into ``directory``.

    ``metadata`` (dataset_hash, training_time_s, hyper_parameters, metrics, history, ...) is
    merged into metadata.json; the keys this function computes win over the caller's.
    The folder is staged and switched in whole (:func:`checkpoint_folder`): a kill leaves the old
    checkpoint or the new one, and a full disk is a UserError with nothing left half-written.
    Inside the caller's own ``checkpoint_folder`` (to add training state beside the checkpoint
    in the same switch) it writes straight into that staging folder. ``beside(folder)`` writes more
    files into the staged folder before it is switched in (the trainer's training state), so they
    appear together or not at all. ``need_bytes``: the folder's size as a full disk's message gives it
    (default :func:`checkpoint_bytes` of the model; the trainer's estimate includes its training state).
    Returns ``directory``.
    """
    import torch

    directory = Path(directory)
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        # clone: safetensors refuses tensors that share storage (tied weights, views).
        tensors[k] = v.detach().to("cpu").contiguous().clone()
    for k, v in (extra_tensors or {}).items():
        tensors[EXTRA_PREFIX + k] = torch.as_tensor(v).detach().to("cpu").contiguous().clone()
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise UserError(f"refusing to write checkpoint {directory}: non-finite values (NaN/inf) in {', '.join(bad[:5])}")
    if is_staging(directory):  # the caller's checkpoint_folder: write straight into it
        _write(directory, tensors, model, spec, metadata, extra_json)
        if beside is not None:
            beside(directory)
        return directory
    _check_replaceable(directory)
    need = need_bytes or checkpoint_bytes(model, extra_tensors, training_state=beside is not None)
    with checkpoint_folder(directory, need_bytes=need) as tmp:
        _write(tmp, tensors, model, spec, metadata, extra_json)
        if beside is not None:
            beside(tmp)
    return directory


CHECKPOINT_FILES = frozenset({WEIGHTS, METADATA, EXTRA_JSON, "train_state.safetensors", "train_state.json"})


def _check_replaceable(directory: Path) -> None:
    """Saving replaces the folder whole: refuse one that holds anything but a checkpoint's files."""
    if directory.is_file():
        raise UserError(f"cannot write checkpoint {directory}: it is a file; give a folder (new or holding a checkpoint)")
    if not directory.is_dir():
        return
    foreign = sorted(p.name for p in directory.iterdir() if p.name not in CHECKPOINT_FILES and not p.name.startswith("."))
    if foreign:
        raise UserError(f"cannot write checkpoint {directory}: the folder holds other files ({', '.join(foreign[:5])}), "
                        "which saving a checkpoint (it replaces the folder whole) would delete; give a new folder")


def _write(directory: Path, tensors: dict[str, Any], model, spec, metadata: dict[str, Any] | None,
           extra_json: dict[str, Any] | None) -> None:
    from safetensors.torch import save_file

    resolved = spec.resolved()
    model_hash = spec.model_hash()
    with atomic_path(directory / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "aa_format": FORMAT, "model_hash": model_hash})
        sha = file_sha256(tmp)
        size = os.path.getsize(tmp)
    write_json(directory / EXTRA_JSON, extra_json or {})
    meta: dict[str, Any] = dict(metadata or {})
    meta.update(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "aa_core_version": __version__,
            "code_revision": code_revision(),
            "architecture": architecture_info(spec),
            "model_hash": model_hash,
            "plugins": spec_plugins(spec),
            "params": int(sum(p.numel() for p in model.parameters())),
            "weights": {"file": WEIGHTS, "sha256": sha, "bytes": size, "tensors": len(tensors)},
            "spec": resolved,
        }
    )
    write_json(directory / METADATA, meta)


# -- reading -------------------------------------------------------------------------------


def _refuse(directory: Path, message: str, problems: list[Problem] | None = None) -> UserError:
    return UserError(f"checkpoint {directory}: {message}", problems)


def read_metadata(directory: str | Path) -> dict[str, Any]:
    """metadata.json of a checkpoint (or of a run folder's best one), checked for format (torch-free)."""
    directory = resolve_checkpoint(directory)
    if not directory.is_dir():
        raise UserError(f"checkpoint {directory}: no such directory (give the folder that holds {METADATA} and {WEIGHTS})")
    path = directory / METADATA
    if not path.is_file():
        raise _refuse(directory, f"{METADATA} is missing; this is not an AA checkpoint or it was interrupted before saving finished")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _refuse(directory, f"{METADATA} is not valid JSON ({exc}); the file is damaged") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _refuse(directory, f"{METADATA} does not describe an AA checkpoint (expected \"format\": \"{FORMAT}\")")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise _refuse(directory, f"format version {meta.get('format_version')} is newer than this aa-core understands ({FORMAT_VERSION}); upgrade aa-core")
    for key in ("spec", "model_hash", "weights"):
        if key not in meta:
            raise _refuse(directory, f"{METADATA} lacks the required field '{key}'")
    return meta


def check_weights_file(directory: Path, meta: dict[str, Any]) -> None:
    """Refuse a weights file that is missing, a pickle, truncated or not the one the metadata names."""
    path = directory / WEIGHTS
    if not path.is_file():
        raise _refuse(directory, f"{WEIGHTS} is missing")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        raw = f.read(n) if 0 <= n <= size - 8 else b""
    try:
        header = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            raise _refuse(directory, f"{WEIGHTS} is a Python pickle, not a safetensors file; AA never unpickles weights because unpickling can run arbitrary code")
        if head[:4] == b"PK\x03\x04":
            raise _refuse(directory, f"{WEIGHTS} is a zip archive (a torch.save pickle), not a safetensors file; AA never unpickles weights because unpickling can run arbitrary code")
        if len(head) < 8:
            raise _refuse(directory, f"{WEIGHTS} is truncated or empty ({size} bytes; a safetensors file starts with an 8-byte header length)")
        if n > size - 8:
            raise _refuse(directory, f"{WEIGHTS} is truncated or not safetensors: its header claims {n:,} bytes but the file has {size:,}")
        raise _refuse(directory, f"{WEIGHTS} is not a safetensors file (its header is not a JSON table)")
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v]
    expected = 8 + n + (max(ends) if ends else 0)
    if size < expected:
        raise _refuse(directory, f"{WEIGHTS} is truncated: {size:,} bytes, its header needs {expected:,}")
    want = meta["weights"]
    if isinstance(want, dict):
        if want.get("bytes") is not None and want["bytes"] != size:
            raise _refuse(directory, f"{WEIGHTS} has {size:,} bytes but {METADATA} records {want['bytes']:,}: the weights are not the ones this metadata describes (truncated, replaced, or a save was interrupted)")
        if want.get("sha256"):
            sha = file_sha256(path)
            if sha != want["sha256"]:
                raise _refuse(directory, f"{WEIGHTS} sha256 {sha[:16]}… differs from {want['sha256'][:16]}… recorded in {METADATA}: the weights were modified or replaced")


def _check_architecture(directory: Path, meta: dict[str, Any]) -> None:
    arch = meta.get("architecture")
    if not arch:
        return
    if not isinstance(arch, dict) or "key" not in arch or "hash" not in arch:
        raise _refuse(directory, f"{METADATA}: 'architecture' must record key and hash, got {arch!r}")
    reg = registry()
    if arch["key"] not in reg.items:
        warnings.warn(
            f"checkpoint {directory}: architecture {arch['key']} is not in this installation's registry; using the spec saved in the checkpoint",
            CheckpointWarning,
            stacklevel=3,
        )
        return
    current = reg.items[arch["key"]]
    if current.hash != arch["hash"]:
        raise _refuse(
            directory,
            f"architecture hash mismatch for {arch['key']}: the checkpoint records {arch['hash'][:16]}…, "
            f"the installed registry defines {current.hash[:16]}… ({current.path}, from {current.source}). "
            "The checkpoint was made with a different definition of this architecture (a released "
            "architecture must not change; a change needs a new version) or its metadata was edited.",
        )


def _check_plugins(directory: Path, meta: dict[str, Any]) -> None:
    recorded = meta.get("plugins") or {}
    now = installed_versions(recorded)
    changed = [f"{d} {v} → {now[d] or 'not installed'}" for d, v in recorded.items() if now[d] != v]
    if changed:
        warnings.warn(
            f"checkpoint {directory} was saved with other plugin versions: {'; '.join(changed)}. "
            "Outputs may differ from the ones it was evaluated with.",
            CheckpointWarning,
            stacklevel=3,
        )


def _spec_from_metadata(directory: Path, meta: dict[str, Any]) -> Spec:
    saved = meta["spec"]
    if not isinstance(saved, dict):
        raise _refuse(directory, f"{METADATA}: 'spec' must be a table")
    recorded_hash = meta["model_hash"]
    saved_hash = content_hash(_model_part(saved))
    if saved_hash != recorded_hash:
        raise _refuse(
            directory,
            f"model hash mismatch: {METADATA} records model_hash {recorded_hash[:16]}… but its saved spec hashes to "
            f"{saved_hash[:16]}…; the metadata was edited or is damaged",
        )
    raw = {k: v for k, v in saved.items() if k != "architecture"}
    try:
        spec = validate(raw, f"{directory / METADATA} (saved spec)")
    except SpecError as exc:
        raise _refuse(directory, "its saved spec is not valid with the installed components", exc.problems) from None
    spec.architecture = saved.get("architecture")
    now = spec.model_hash()
    if now != recorded_hash:
        lines = diff_specs(_model_part(saved), _model_part(spec.resolved()))
        warnings.warn(
            f"checkpoint {directory}: the installed components resolve its spec differently (new or changed config "
            f"defaults): {'; '.join(lines[:8])}",
            CheckpointWarning,
            stacklevel=3,
        )
    return spec


def load_verified(directory: str | Path) -> Checkpoint:
    """:func:`load_checkpoint` for a command: its warnings (a plugin version changed, ...) printed to
    stderr as one-line ``aa: warning:`` messages instead of Python's warning format."""
    import sys

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ckpt = load_checkpoint(directory)
    for w in caught:
        if issubclass(w.category, (UserWarning, FutureWarning)):
            print(f"aa: warning: {w.message}", file=sys.stderr)
    return ckpt


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Read and verify a checkpoint; any problem is a UserError (exit 2) saying what differs."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = resolve_checkpoint(directory)
    meta = read_metadata(directory)
    check_weights_file(directory, meta)
    _check_architecture(directory, meta)
    _check_plugins(directory, meta)
    spec = _spec_from_metadata(directory, meta)
    try:
        tensors = load_file(str(directory / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as exc:
        raise _refuse(directory, f"{WEIGHTS} cannot be read as safetensors: {exc}") from None
    extra_path = directory / EXTRA_JSON
    if not extra_path.is_file():  # every checkpoint has one (components' state, e.g. a decoder's texts; {} when none)
        raise _refuse(directory, f"{EXTRA_JSON} is missing (it holds the components' state beside the weights, e.g. a "
                                 "decoder's texts); the checkpoint is incomplete: copy the whole folder again, or retrain")
    try:
        extra_json = json.loads(extra_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _refuse(directory, f"{EXTRA_JSON} is not valid JSON ({exc})") from None
    state = {k: v for k, v in tensors.items() if not k.startswith(EXTRA_PREFIX)}
    extra = {k[len(EXTRA_PREFIX):]: v for k, v in tensors.items() if k.startswith(EXTRA_PREFIX)}
    return Checkpoint(directory, meta, spec, state, extra, extra_json)
