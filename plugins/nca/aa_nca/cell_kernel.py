"""A C++ depthwise 3×3×3 perception with its backward pass, for the ``growing_nca`` cell's training.

``out[b, x, y, z, c·m + j] = Σ_k w[c·m + j, k] · in[b, (x, y, z) + d_k, c]`` on a channels-last
lattice, with a zero or periodic boundary per axis. oneDNN's grouped convolution is slow on these
shapes (a few channels per group, tiny lattices: most of a voxel training step went into it), while
the arithmetic is small (27·m·C MACs per cell), so three plain loops — forward, input gradient (a
gather, so no write conflicts) and weight gradient (per-thread partial sums) — parallelised over
(sample, x-plane) with OpenMP do it in a fraction of the time.

The source is compiled on first use with ``$CXX`` (else ``c++``/``g++``) ``-O3 -march=native
-fopenmp`` into ``$TORCH_EXTENSIONS_DIR/aa_nca`` (default ``~/.cache/torch_extensions/aa_nca``),
named by a hash of source, flags, compiler and CPU; a temp file + rename keeps concurrent builds
safe. When anything fails (no compiler, ``AA_NO_FUSED=1``) :func:`available` is False and the cell
keeps its PyTorch path.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings

import torch

SOURCE = r"""
#include <cstdint>
#include <vector>
#include <cstring>
#include <omp.h>

namespace {
struct Geo { int64_t B; int X, Y, Z, C, m; int px, py, pz; };

inline int wrap(int i, int n, int periodic) {
  if (i >= 0 && i < n) return i;
  if (!periodic) return -1;
  return (i + n) % n;
}

// the 27 source offsets of cell (x, y, z): flat cell index within the sample, or -1 (zero boundary)
inline void neighbours(const Geo& g, int x, int y, int z, int sign, int64_t* idx) {
  int k = 0;
  for (int dx = -1; dx <= 1; ++dx) {
    int xs = wrap(x + sign * dx, g.X, g.px);
    for (int dy = -1; dy <= 1; ++dy) {
      int ys = wrap(y + sign * dy, g.Y, g.py);
      for (int dz = -1; dz <= 1; ++dz, ++k) {
        int zs = wrap(z + sign * dz, g.Z, g.pz);
        idx[k] = (xs < 0 || ys < 0 || zs < 0) ? -1 : ((int64_t)xs * g.Y + ys) * g.Z + zs;
      }
    }
  }
}

// acc[o] = Σ_k wT[k, o] · src[neighbour_k(x, y, z), o]: the depthwise stencil at one cell (dir −1: the transpose's gather)
inline void weighted_neighbours(const Geo& g, const float* src, const float* wT, int x, int y, int z, int dir, float* __restrict acc) {
  const int Cm = g.C * g.m;
  int64_t idx[27];
  neighbours(g, x, y, z, dir, idx);
  std::fill(acc, acc + Cm, 0.f);
  for (int k = 0; k < 27; ++k) {
    if (idx[k] < 0) continue;
    const float* __restrict v = src + idx[k] * Cm;
    const float* __restrict w = wT + (int64_t)k * Cm;
    for (int o = 0; o < Cm; ++o) acc[o] += w[o] * v[o];
  }
}
// mine[k, o] += go[o] · src[neighbour_k(x, y, z), o]: one cell's share of the kernel gradient
inline void add_weight_grad(const Geo& g, const float* src, const float* __restrict go, int x, int y, int z, float* mine) {
  const int Cm = g.C * g.m;
  int64_t idx[27];
  neighbours(g, x, y, z, 1, idx);
  for (int k = 0; k < 27; ++k) {
    if (idx[k] < 0) continue;
    const float* __restrict v = src + idx[k] * Cm;
    float* __restrict w = mine + (int64_t)k * Cm;
    for (int o = 0; o < Cm; ++o) w[o] += go[o] * v[o];
  }
}

// out[i] = Σ_t partial[t, i]: the per-thread kernel-gradient sums
inline void sum_partials(const std::vector<float>& partial, int threads, int64_t n, float* out) {
  std::memset(out, 0, sizeof(float) * n);
  for (int t = 0; t < threads; ++t)
    for (int64_t i = 0; i < n; ++i) out[i] += partial[(size_t)t * n + i];
}

// (x, y, z) of flat cell id p within a sample
inline void cell_xyz(const Geo& g, int64_t p, int* x, int* y, int* z) {
  *z = (int)(p % g.Z);
  *y = (int)((p / g.Z) % g.Y);
  *x = (int)(p / ((int64_t)g.Y * g.Z));
}
}  // namespace

extern "C" {

// xe [B,X,Y,Z,C*m] (the input with each channel repeated m times), wT [27, C*m] → out [B,X,Y,Z,C*m]
void aa_ca_dw_forward(const float* in, const float* wT, float* out, int64_t B, int X, int Y, int Z, int C, int m,
                      int px, int py, int pz, int threads) {
  Geo g{B, X, Y, Z, C, m, px, py, pz};
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t t = 0; t < B * X; ++t) {
    const int64_t b = t / X;
    const int x = (int)(t % X);
    const float* src = in + b * N * Cm;
    std::vector<float> acc(Cm);
    for (int y = 0; y < Y; ++y)
      for (int z = 0; z < Z; ++z) {
        weighted_neighbours(g, src, wT, x, y, z, 1, acc.data());
        std::memcpy(out + ((b * N) + ((int64_t)x * Y + y) * Z + z) * Cm, acc.data(), sizeof(float) * Cm);
      }
  }
}

// grad_out [B,X,Y,Z,C*m] → grad_in [B,X,Y,Z,C] (a gather: cell p collects from the cells q = p − d_k)
void aa_ca_dw_backward_input(const float* gout, const float* wT, float* gin, int64_t B, int X, int Y, int Z, int C, int m,
                             int px, int py, int pz, int threads) {
  Geo g{B, X, Y, Z, C, m, px, py, pz};
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t t = 0; t < B * X; ++t) {
    const int64_t b = t / X;
    const int x = (int)(t % X);
    const float* go = gout + b * N * Cm;
    std::vector<float> acc(Cm);
    for (int y = 0; y < Y; ++y)
      for (int z = 0; z < Z; ++z) {
        weighted_neighbours(g, go, wT, x, y, z, -1, acc.data());  // q = p − d_k read p through offset d_k
        float* dst = gin + ((b * N) + ((int64_t)x * Y + y) * Z + z) * C;
        for (int c = 0; c < C; ++c) {
          float s = 0.f;
          for (int j = 0; j < m; ++j) s += acc[c * m + j];
          dst[c] = s;
        }
      }
  }
}

// grad_wT [27, C*m] = Σ_cells grad_out[q, o] · xe[q + d_k, o] (xe: the input, channels repeated m times)
void aa_ca_dw_backward_weight(const float* in, const float* gout, float* gwT, int64_t B, int X, int Y, int Z, int C, int m,
                              int px, int py, int pz, int threads) {
  Geo g{B, X, Y, Z, C, m, px, py, pz};
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z;
  std::vector<float> partial((size_t)threads * 27 * Cm, 0.f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + (size_t)omp_get_thread_num() * 27 * Cm;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < B * X; ++t) {
      const int64_t b = t / X;
      const int x = (int)(t % X);
      for (int y = 0; y < Y; ++y)
        for (int z = 0; z < Z; ++z)
          add_weight_grad(g, in + b * N * Cm, gout + ((b * N) + ((int64_t)x * Y + y) * Z + z) * Cm, x, y, z, mine);
    }
  }
  sum_partials(partial, threads, 27 * Cm, gwT);
}

// ---- the same three at chosen cells only: rows[r] is cell idx[r] (sorted flat ids in [0, B·N)) ----

// out [R, C*m]: the perception of cell idx[r]
void aa_ca_dw_forward_at(const float* in, const float* wT, float* out, const int64_t* idx, int64_t R, int64_t B, int X,
                         int Y, int Z, int C, int m, int px, int py, int pz, int threads) {
  Geo g{B, X, Y, Z, C, m, px, py, pz};
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < R; ++r) {
    const int64_t b = idx[r] / N;
    int x, y, z;
    cell_xyz(g, idx[r] % N, &x, &y, &z);
    weighted_neighbours(g, in + b * N * Cm, wT, x, y, z, 1, out + r * Cm);
  }
}

// grad_rows [R, m, C] → grad_in [B,X,Y,Z,C] (zeroed here): a scatter, so each thread takes whole samples
// (starts[b] = the first row of sample b, starts[B] = R). Rows and weights (wTm [27, m, C]) come m-major,
// so the sum over a channel's m features is m contiguous vector FMAs.
void aa_ca_dw_backward_input_at(const float* gout, const float* wT, float* gin, const int64_t* idx, const int64_t* starts,
                                int64_t B, int X, int Y, int Z, int C, int m, int px, int py, int pz, int threads) {
  Geo g{B, X, Y, Z, C, m, px, py, pz};
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z;
  std::memset(gin, 0, sizeof(float) * B * N * C);
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (int64_t b = 0; b < B; ++b) {
    float* dst = gin + b * N * C;
    int64_t nb[27];
    for (int64_t r = starts[b]; r < starts[b + 1]; ++r) {
      int x, y, z;
      cell_xyz(g, idx[r] % N, &x, &y, &z);
      neighbours(g, x, y, z, 1, nb);
      const float* __restrict go = gout + r * Cm;
      for (int k = 0; k < 27; ++k) {
        if (nb[k] < 0) continue;
        const float* __restrict w = wT + (int64_t)k * Cm;
        float* __restrict d = dst + nb[k] * C;
        if (m == 3) {  // the common case, written so that it vectorises over c
          const float* __restrict w1 = w + C;
          const float* __restrict w2 = w + 2 * C;
          const float* __restrict g1 = go + C;
          const float* __restrict g2 = go + 2 * C;
          for (int c = 0; c < C; ++c) d[c] += w[c] * go[c] + w1[c] * g1[c] + w2[c] * g2[c];
        } else {
          for (int j = 0; j < m; ++j)
            for (int c = 0; c < C; ++c) d[c] += w[j * C + c] * go[j * C + c];
        }
      }
    }
  }
}

// grad_wT [27, C*m] = Σ_r grad_rows[r, o] · xe[idx[r] + d_k, o]
void aa_ca_dw_backward_weight_at(const float* in, const float* gout, float* gwT, const int64_t* idx, int64_t R, int64_t B,
                                 int X, int Y, int Z, int C, int m, int px, int py, int pz, int threads) {
  Geo g{B, X, Y, Z, C, m, px, py, pz};
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z;
  std::vector<float> partial((size_t)threads * 27 * Cm, 0.f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + (size_t)omp_get_thread_num() * 27 * Cm;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < R; ++r) {
      int x, y, z;
      cell_xyz(g, idx[r] % N, &x, &y, &z);
      add_weight_grad(g, in + (idx[r] / N) * N * Cm, gout + r * Cm, x, y, z, mine);
    }
  }
  sum_partials(partial, threads, 27 * Cm, gwT);
}
}
"""

_FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
_lock = threading.Lock()
_state: dict = {}


def _build() -> ctypes.CDLL:
    cxx = next((shutil.which(c) for c in (os.environ.get("CXX"), "c++", "g++", "clang++") if c and shutil.which(c)), None)
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set CXX)")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    try:
        with open("/proc/cpuinfo") as f:
            cpu = "".join([ln for ln in f if ln.startswith(("model name", "flags"))][:2])
    except OSError:
        cpu = ""
    key = hashlib.sha256("\0".join([SOURCE, " ".join(_FLAGS), version, cpu]).encode()).hexdigest()[:16]
    base = os.environ.get("TORCH_EXTENSIONS_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch_extensions")
    d = os.path.join(base, "aa_nca")
    path = os.path.join(d, f"aa_nca_depthwise_{key}.so")
    if not os.path.exists(path):
        os.makedirs(d, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=d) as tmpdir:
            src = os.path.join(tmpdir, "dw.cpp")
            with open(src, "w") as f:
                f.write(SOURCE)
            tmp = os.path.join(tmpdir, "dw.so")
            res = subprocess.run([cxx, *_FLAGS, src, "-o", tmp], capture_output=True, text=True, timeout=300)
            if res.returncode != 0:
                raise RuntimeError(f"compile failed: {res.stderr.strip()[-500:]}")
            os.replace(tmp, path)
    lib = ctypes.CDLL(path)
    i64, i32, fp = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    for name in ("aa_ca_dw_forward", "aa_ca_dw_backward_input", "aa_ca_dw_backward_weight"):
        fn = getattr(lib, name)
        fn.argtypes = [fp, fp, fp, i64, i32, i32, i32, i32, i32, i32, i32, i32, i32]
        fn.restype = None
    for name in ("aa_ca_dw_forward_at", "aa_ca_dw_backward_weight_at"):
        fn = getattr(lib, name)
        fn.argtypes = [fp, fp, fp, fp, i64, i64, i32, i32, i32, i32, i32, i32, i32, i32, i32]
        fn.restype = None
    lib.aa_ca_dw_backward_input_at.argtypes = [fp, fp, fp, fp, fp, i64, i32, i32, i32, i32, i32, i32, i32, i32, i32]
    lib.aa_ca_dw_backward_input_at.restype = None
    return lib


def library() -> ctypes.CDLL | None:
    if "lib" not in _state:
        with _lock:
            if "lib" not in _state:
                lib = None
                if os.environ.get("AA_NO_FUSED", "") in ("", "0"):
                    try:
                        lib = _build()
                    except Exception as e:  # no compiler or a build error: keep the PyTorch path
                        warnings.warn(f"aa_nca: depthwise kernel unavailable, using PyTorch ({type(e).__name__}: {e})",
                                      RuntimeWarning, stacklevel=2)
                _state["lib"] = lib
    return _state["lib"]


def available(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 5 and library() is not None


def _call(name: str, tensors: tuple[torch.Tensor, ...], extras: tuple[int, ...], shape, m: int, periodic) -> None:
    """Kernel ``name`` on the ``tensors``' addresses, then ``extras`` (the ``*_at`` kernels' row count R or
    ``starts`` address), the lattice shape, m, the periodic flags and the thread count."""
    B, X, Y, Z, C = shape
    px, py, pz = (int(bool(p)) for p in periodic)
    getattr(library(), name)(*(t.data_ptr() for t in tensors), *extras, B, X, Y, Z, C, m, px, py, pz,
                             torch.get_num_threads())


def _operands(grid: torch.Tensor, kernel: torch.Tensor) -> tuple[torch.Tensor, int, torch.Tensor, torch.Tensor]:
    """``(grid, m, wT [27, C·m], xe [B, X, Y, Z, C·m])``: feature c·m + j of ``xe`` reads channel c."""
    grid = grid.contiguous()
    Cm = kernel.shape[0]
    m = Cm // grid.shape[-1]
    wT = kernel.detach().reshape(Cm, 27).t().contiguous()
    return grid, m, wT, (grid.repeat_interleave(m, -1) if m > 1 else grid)


class DepthwisePerception(torch.autograd.Function):
    """``grid [B, X, Y, Z, C]``, ``kernel [C·m, 1, 3, 3, 3]`` → ``[B, X, Y, Z, C·m]`` (see the module docstring)."""

    @staticmethod
    def forward(ctx, grid: torch.Tensor, kernel: torch.Tensor, periodic: tuple[bool, bool, bool]) -> torch.Tensor:
        grid, m, wT, xe = _operands(grid, kernel)
        out = grid.new_empty(*grid.shape[:4], kernel.shape[0])
        _call("aa_ca_dw_forward", (xe, wT, out), (), grid.shape, m, periodic)
        ctx.save_for_backward(xe if kernel.requires_grad else grid.new_empty(0), wT)
        ctx.gshape = grid.shape
        ctx.m, ctx.periodic, ctx.kshape = m, periodic, kernel.shape
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        xe, wT = ctx.saved_tensors
        grad = grad.contiguous()
        g_in = g_w = None
        if ctx.needs_input_grad[0]:
            g_in = grad.new_empty(ctx.gshape)
            _call("aa_ca_dw_backward_input", (grad, wT, g_in), (), ctx.gshape, ctx.m, ctx.periodic)
        if ctx.needs_input_grad[1]:
            gwT = torch.empty_like(wT)
            _call("aa_ca_dw_backward_weight", (xe, grad, gwT), (), ctx.gshape, ctx.m, ctx.periodic)
            g_w = gwT.t().reshape(ctx.kshape)
        return g_in, g_w, None


class DepthwisePerceptionAt(torch.autograd.Function):
    """The perception rows of the cells ``idx`` (sorted flat ids into ``[B·N]``) only: ``[R, C·m]``."""

    @staticmethod
    def forward(ctx, grid: torch.Tensor, kernel: torch.Tensor, idx: torch.Tensor,
                periodic: tuple[bool, bool, bool]) -> torch.Tensor:
        grid, m, wT, xe = _operands(grid, kernel)
        idx = idx.contiguous().to(torch.int64)
        out = grid.new_empty(len(idx), kernel.shape[0])
        _call("aa_ca_dw_forward_at", (xe, wT, out, idx), (len(idx),), grid.shape, m, periodic)
        ctx.save_for_backward(xe if kernel.requires_grad else grid.new_empty(0), wT, idx)
        ctx.gshape = grid.shape
        ctx.m, ctx.periodic, ctx.kshape = m, periodic, kernel.shape
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        xe, wT, idx = ctx.saved_tensors
        grad = grad.contiguous()
        g_in = g_w = None
        B, X, Y, Z, _ = ctx.gshape
        if ctx.needs_input_grad[0]:
            g_in = grad.new_empty(ctx.gshape)
            counts = torch.bincount(idx // (X * Y * Z), minlength=B)
            starts = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
            C, m = ctx.gshape[-1], ctx.m  # m-major copies: feature c·m + j → j·C + c
            grad_m = grad.view(-1, C, m).transpose(1, 2).contiguous()
            wT_m = wT.view(27, C, m).transpose(1, 2).contiguous()
            _call("aa_ca_dw_backward_input_at", (grad_m, wT_m, g_in, idx), (starts.data_ptr(),), ctx.gshape, m, ctx.periodic)
        if ctx.needs_input_grad[1]:
            gwT = torch.empty_like(wT)
            _call("aa_ca_dw_backward_weight_at", (xe, grad, gwT, idx), (len(idx),), ctx.gshape, ctx.m, ctx.periodic)
            g_w = gwT.t().reshape(ctx.kshape)
        return g_in, g_w, None, None


def depthwise_perception_at(grid: torch.Tensor, kernel: torch.Tensor, periodic: tuple[bool, bool, bool],
                            idx: torch.Tensor) -> torch.Tensor:
    return DepthwisePerceptionAt.apply(grid, kernel, idx, tuple(bool(p) for p in periodic))


def depthwise_perception(grid: torch.Tensor, kernel: torch.Tensor, periodic: tuple[bool, bool, bool]) -> torch.Tensor:
    return DepthwisePerception.apply(grid, kernel, tuple(bool(p) for p in periodic))
