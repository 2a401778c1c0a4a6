"""Fused C++ kernel for the depthwise NCA cell's no-grad lattice forward, compiled on first use.

:func:`depthwise_forward` computes ``fc2(relu(fc1(perceive(grid))))`` over a channels-last lattice
in one pass (perception straight from the grid into registers, then both small GEMMs): ~6.8K MAC
per cell at C=16, M=4, H=64 instead of the folded dense conv's ~29K (see ``_fused_depthwise.cpp``).

The source is plain C++ with a C ABI (no torch headers: it builds in about a second) and is
loaded with :mod:`ctypes`. It is compiled with ``$CXX`` (else ``c++``/``g++``) and
``-O3 -march=native -fopenmp`` into ``$TORCH_EXTENSIONS_DIR/aa_fused`` (default
``~/.cache/torch_extensions/aa_fused``), named by a hash of the source, flags, compiler and CPU, so
later processes reuse the build; a temp file + ``os.replace`` keeps concurrent builds safe.

Anything that goes wrong — no compiler, a build or load error — makes :func:`load` return None
(one warning per process) and callers keep their PyTorch path. ``AA_NO_FUSED=1`` disables it.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings

import torch

_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_fused_depthwise.cpp")
_FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
_lock = threading.Lock()
_state: dict = {}  # "lib": the loaded library or None after a failure; "error": why


def cache_dir() -> str:
    base = os.environ.get("TORCH_EXTENSIONS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch_extensions")
    return os.path.join(base, "aa_fused")


def _compiler() -> str | None:
    for c in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if c and shutil.which(c):
            return shutil.which(c)
    return None


def _cpu_id() -> str:
    """-march=native output is CPU-specific: key the cache on the CPU's model and flags."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))][:2]
        return "".join(lines)
    except OSError:
        return platform.processor() or platform.machine()


def _build() -> ctypes.CDLL:
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX)")
    with open(_SRC, "rb") as f:
        src = f.read()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256(b"\0".join([src, " ".join(_FLAGS).encode(), version.encode(), _cpu_id().encode()])).hexdigest()[:16]
    d = cache_dir()
    path = os.path.join(d, f"aa_fused_depthwise_{key}.so")
    if not os.path.exists(path):
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=d)
        os.close(fd)
        try:
            res = subprocess.run([cxx, *_FLAGS, _SRC, "-o", tmp], capture_output=True, text=True, timeout=300)
            if res.returncode != 0:
                raise RuntimeError(f"compile failed: {res.stderr.strip()[-500:]}")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    lib = ctypes.CDLL(path)
    i64, i32, fp = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    lib.aa_dw_supports.argtypes = [i32, i32, i32]
    lib.aa_dw_supports.restype = i32
    lib.aa_dw_forward.argtypes = [fp, fp, i64, i32, i32, i32, i32, i32, i32, i32, i32, i32, fp, fp, fp, fp, fp, i32]
    lib.aa_dw_forward.restype = i32
    return lib


def load() -> ctypes.CDLL | None:
    """The compiled kernel library, or None when it cannot be built here (warns once)."""
    if "lib" in _state:
        return _state["lib"]
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        lib = None
        if os.environ.get("AA_NO_FUSED", "") not in ("", "0"):
            _state["error"] = "disabled by AA_NO_FUSED"
        else:
            try:
                lib = _build()
            except Exception as e:  # no compiler, build or load error: keep the PyTorch path
                _state["error"] = f"{type(e).__name__}: {e}"
                warnings.warn(f"aa: fused depthwise kernel unavailable, using the PyTorch path ({_state['error']})",
                              RuntimeWarning, stacklevel=2)
        _state["lib"] = lib
        return lib


def error() -> str | None:
    """Why :func:`load` returned None (after it was called), else None."""
    return _state.get("error")


def disable(exc: BaseException) -> None:
    """Turn the kernel off for this process after a runtime failure (warns once)."""
    if _state.get("lib") is not None:
        _state["lib"] = None
        _state["error"] = f"{type(exc).__name__}: {exc}"
        warnings.warn(f"aa: fused depthwise kernel failed, using the PyTorch path ({_state['error']})",
                      RuntimeWarning, stacklevel=3)


def usable(grid: torch.Tensor, channels: int, multiplier: int, hidden: int) -> bool:
    """Whether the fused kernel applies to this call: no grad, fp32 CPU ``[B,X,Y,Z,C]``, a compiled shape."""
    if torch.is_grad_enabled() or grid.dtype != torch.float32 or grid.device.type != "cpu" or grid.dim() != 5:
        return False
    lib = load()
    return lib is not None and bool(lib.aa_dw_supports(channels, multiplier, hidden))


def depthwise_forward(grid: torch.Tensor, wp: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor,
                      w2: torch.Tensor, b2: torch.Tensor, periodic_axes) -> torch.Tensor:
    """``[B, X, Y, Z, C]`` → ``[B, X, Y, Z, C]`` with packed fp32 contiguous weights:
    perception ``wp [27, M, C]``, ``w1 [M·C, H]`` (row ``j·C + c``), ``b1 [H]``, ``w2 [H, C]``, ``b2 [C]``."""
    lib = load()
    if lib is None:
        raise RuntimeError(f"fused depthwise: kernel unavailable ({_state.get('error')})")
    grid = grid.contiguous()
    B, X, Y, Z, C = grid.shape
    M, H = wp.shape[1], w1.shape[1]
    if not (wp.shape == (27, M, C) and w1.shape == (M * C, H) and b1.shape == (H,) and w2.shape == (H, C) and b2.shape == (C,)):
        raise ValueError("fused depthwise: weight shapes do not match the grid")
    ws = [t.contiguous() for t in (wp, w1, b1, w2, b2)]
    if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in ws):
        raise ValueError("fused depthwise: weights must be fp32 CPU tensors")
    out = torch.empty_like(grid)
    px, py, pz = (int(bool(p)) for p in periodic_axes)
    rc = lib.aa_dw_forward(grid.data_ptr(), out.data_ptr(), B, X, Y, Z, C, M, H, px, py, pz,
                           *(t.data_ptr() for t in ws), torch.get_num_threads())
    if rc != 0:
        raise ValueError(f"fused depthwise: no kernel for C={C} M={M} H={H}")
    return out
