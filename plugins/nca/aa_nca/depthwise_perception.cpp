// The growing_nca cell's depthwise 3×3×3 perception on a channels-last lattice, with its backward pass.
//
// out[b, x, y, z, c·m + j] = Σ_k w[c·m + j, k] · in[b, (x, y, z) + d_k, c], zero or periodic boundary per
// axis. oneDNN's grouped convolution is slow on these shapes (a few channels per group, tiny lattices),
// while the arithmetic is small (27·m·C MACs per cell), so plain loops do it in a fraction of the time.
// The dense kernels (forward, input gradient — a gather, so no write conflicts — and weight gradient, with
// per-thread partial sums) work tap by tap on runs of cells that share one source offset (a whole line
// lattice is one run per tap), parallelised over blocks of x-planes with OpenMP, and expand the input
// (each channel repeated m times) inside their own parallel region; the *_at variants compute only the
// rows of chosen cells (the masked update), cell by cell over the valid taps. Plain C ABI, no torch
// headers: built by aa_core.native (native_library in aa_core.plugin) and wrapped as torch custom ops in
// aa_nca/cell_kernel.py.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
inline int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int wrap(int i, int n, int periodic) {
  if (i >= 0 && i < n) return i;
  if (!periodic) return -1;
  return (i + n) % n;
}

// The neighbours of a coordinate along one axis, tabulated once per call: coordinate i has count[i] valid
// offsets d (zero boundary: the ones that stay inside), each as (d + 1, the source coordinate i + sign·d).
// A cell then visits only its valid taps (a line lattice: 3 of the 27), with no bounds test per tap.
struct AxisTaps {
  std::vector<int> count, tap, src;
  AxisTaps(int n, int periodic, int sign) : count(n), tap(3 * (size_t)n), src(3 * (size_t)n) {
    for (int i = 0; i < n; ++i) {
      int c = 0;
      for (int d = -1; d <= 1; ++d) {
        const int s = wrap(i + sign * d, n, periodic);
        if (s < 0) continue;
        tap[3 * i + c] = d + 1;
        src[3 * i + c] = s;
        ++c;
      }
      count[i] = c;
    }
  }
};

struct Geo {
  int64_t B; int X, Y, Z, C, m;
  int64_t N;  // cells per sample
  AxisTaps ax, ay, az;
  Geo(int64_t B_, int X_, int Y_, int Z_, int C_, int m_, int px, int py, int pz, int sign)
      : B(B_), X(X_), Y(Y_), Z(Z_), C(C_), m(m_), N((int64_t)X_ * Y_ * Z_),
        ax(X_, px, sign), ay(Y_, py, sign), az(Z_, pz, sign) {}
};

// f(k, q) for each valid tap k = 9·(dx+1) + 3·(dy+1) + (dz+1) of cell (x, y, z), q = its source cell's flat id in the sample
template <class F>
inline void for_each_tap(const Geo& g, int x, int y, int z, F&& f) {
  for (int a = 0; a < g.ax.count[x]; ++a) {
    const int kx = 9 * g.ax.tap[3 * x + a];
    const int64_t qx = (int64_t)g.ax.src[3 * x + a] * g.Y;
    for (int b = 0; b < g.ay.count[y]; ++b) {
      const int kxy = kx + 3 * g.ay.tap[3 * y + b];
      const int64_t qxy = (qx + g.ay.src[3 * y + b]) * g.Z;
      for (int c = 0; c < g.az.count[z]; ++c) f(kxy + g.az.tap[3 * z + c], qxy + g.az.src[3 * z + c]);
    }
  }
}

// acc[o] = Σ_k wT[k, o] · src[neighbour_k(x, y, z), o]: the depthwise stencil at one cell (g built with sign −1:
// the transpose's gather)
inline void weighted_neighbours(const Geo& g, const float* src, const float* wT, int x, int y, int z, float* __restrict acc) {
  const int Cm = g.C * g.m;
  std::fill(acc, acc + Cm, 0.f);
  for_each_tap(g, x, y, z, [&](int k, int64_t q) {
    const float* __restrict v = src + q * Cm;
    const float* __restrict w = wT + (int64_t)k * Cm;
    for (int o = 0; o < Cm; ++o) acc[o] += w[o] * v[o];
  });
}

// mine[k, o] += go[o] · src[neighbour_k(x, y, z), o]: one cell's share of the kernel gradient
inline void add_weight_grad(const Geo& g, const float* src, const float* __restrict go, int x, int y, int z, float* mine) {
  const int Cm = g.C * g.m;
  for_each_tap(g, x, y, z, [&](int k, int64_t q) {
    const float* __restrict v = src + q * Cm;
    float* __restrict w = mine + (int64_t)k * Cm;
    for (int o = 0; o < Cm; ++o) w[o] += go[o] * v[o];
  });
}

// A stretch of destination coordinates [lo, hi) along one axis that reads the source at coordinate + shift.
struct Segment { int lo, hi, shift; };

// The segments of destination range [lo, hi) along an axis of n cells for offset s (−1, 0, 1): the part whose
// source lies inside, and with a periodic boundary the wrapped cell (at most two segments).
inline int axis_segments(int n, int periodic, int s, int lo, int hi, Segment* out) {
  int k = 0;
  const int a = std::max(lo, std::max(0, -s)), b = std::min(hi, std::min(n, n - s));
  if (a < b) out[k++] = {a, b, s};
  if (periodic && s != 0) {
    const int w = s > 0 ? n - 1 : 0;  // the one destination cell whose source wraps around
    if (w >= lo && w < hi && !(w >= a && w < b)) out[k++] = {w, w + 1, s > 0 ? s - n : s + n};
  }
  return k;
}

// f(k, p, L, delta) over every tap k of the cells with x in [x0, x1) of one sample: the L destination cells
// from flat id p read the sources p + delta .. (same for all L). Runs span whole x-planes when the tap
// keeps y and z inside (a line lattice: one run per tap), else whole z-rows, else parts of z-rows; so
// the per-cell work is the vector loop over features only. sign −1: the transpose's gather.
template <class F>
inline void for_each_run(int X, int Y, int Z, int px, int py, int pz, int sign, int x0, int x1, F&& f) {
  Segment sx[2], sy[2], sz[2];
  for (int dx = -1; dx <= 1; ++dx) {
    const int nx = axis_segments(X, px, sign * dx, x0, x1, sx);
    for (int dy = -1; dy <= 1; ++dy) {
      const int ny = axis_segments(Y, py, sign * dy, 0, Y, sy);
      for (int dz = -1; dz <= 1; ++dz) {
        const int nz = axis_segments(Z, pz, sign * dz, 0, Z, sz);
        const int k = 9 * (dx + 1) + 3 * (dy + 1) + (dz + 1);
        for (int i = 0; i < nx; ++i)
          for (int j = 0; j < ny; ++j)
            for (int l = 0; l < nz; ++l) {
              const Segment &a = sx[i], &b = sy[j], &c = sz[l];
              const int64_t delta = ((int64_t)a.shift * Y + b.shift) * Z + c.shift;
              const bool full_z = c.lo == 0 && c.hi == Z, full_y = b.lo == 0 && b.hi == Y;
              if (full_z && full_y) {
                f(k, (int64_t)a.lo * Y * Z, (int64_t)(a.hi - a.lo) * Y * Z, delta);
              } else {
                for (int x = a.lo; x < a.hi; ++x) {
                  if (full_z) {
                    f(k, ((int64_t)x * Y + b.lo) * Z, (int64_t)(b.hi - b.lo) * Z, delta);
                  } else {
                    for (int y = b.lo; y < b.hi; ++y) f(k, ((int64_t)x * Y + y) * Z + c.lo, (int64_t)(c.hi - c.lo), delta);
                  }
                }
              }
            }
      }
    }
  }
}

// dst[p·Cm + o] += wk[o] · src[(p + delta)·Cm + o] for the L cells from p
inline void add_weighted_run(float* __restrict dst, const float* __restrict src, const float* __restrict wk, int64_t L, int Cm) {
  for (int64_t i = 0; i < L; ++i) {
    float* __restrict d = dst + i * Cm;
    const float* __restrict v = src + i * Cm;
    for (int o = 0; o < Cm; ++o) d[o] += wk[o] * v[o];
  }
}

// dst[i] = Σ_j src[i·m + j] for i < n: the m features of each channel summed back onto it
inline void sum_over_m(const float* __restrict src, int64_t n, int m, float* __restrict dst) {
  if (m == 3) {  // the common case, unrolled
    for (int64_t i = 0; i < n; ++i) dst[i] = src[3 * i] + src[3 * i + 1] + src[3 * i + 2];
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    float s = 0.f;
    for (int j = 0; j < m; ++j) s += src[i * m + j];
    dst[i] = s;
  }
}

// dst[i·m + j] = src[i] for i < n, j < m: the input with each channel repeated m times (feature c·m + j
// reads channel c), so a tap's update is one flat vector loop over the C·m features
inline void expand_channels(const float* __restrict src, int64_t n, int m, float* __restrict dst) {
  int64_t i = 0;
#ifdef __AVX2__
  if (m == 3) {  // the common case: 8 channels → 24 features by three lane permutations
    const __m256i i0 = _mm256_setr_epi32(0, 0, 0, 1, 1, 1, 2, 2), i1 = _mm256_setr_epi32(2, 3, 3, 3, 4, 4, 4, 5),
                  i2 = _mm256_setr_epi32(5, 5, 6, 6, 6, 7, 7, 7);
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_loadu_ps(src + i);
      _mm256_storeu_ps(dst + 3 * i, _mm256_permutevar8x32_ps(v, i0));
      _mm256_storeu_ps(dst + 3 * i + 8, _mm256_permutevar8x32_ps(v, i1));
      _mm256_storeu_ps(dst + 3 * i + 16, _mm256_permutevar8x32_ps(v, i2));
    }
  }
#endif
  if (m == 1) {
    std::memcpy(dst, src, sizeof(float) * n);
    return;
  }
  for (; i < n; ++i)
    for (int j = 0; j < m; ++j) dst[i * m + j] = src[i];
}

// A per-calling-thread scratch buffer of at least n floats, kept between calls (no allocation per step)
inline float* scratch(size_t n) {
  static thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// Inside a parallel region: xe = the whole input [cells, C] expanded (see expand_channels), split
// evenly over the threads in chunks of 4,096 values (ends with the loop's barrier)
inline void expand_all(const float* in, int64_t cells, int C, int m, float* xe) {
  const int64_t n = cells * C, chunks = (n + 4095) / 4096;
#pragma omp for schedule(static)
  for (int64_t t = 0; t < chunks; ++t) {
    const int64_t a = t * 4096, len = std::min<int64_t>(4096, n - a);
    expand_channels(in + a, len, m, xe + a * m);
  }
}

// The x-blocks work is split into: whole samples' planes in blocks of about 256 cells (a line lattice gets
// one block per sample, a voxel grid one plane per block), so each block is enough work for its runs.
inline int x_block(int X, int Y, int Z) {
  const int64_t plane = (int64_t)Y * Z;
  return (int)std::max<int64_t>(1, std::min<int64_t>(X, 256 / std::max<int64_t>(plane, 1)));
}

// Block t of the (sample, x-block) work items: sample b, x-planes [x0, x1) (blocks of xb planes)
inline void block_of(int64_t t, int X, int xb, int64_t* b, int* x0, int* x1) {
  const int nb = (X + xb - 1) / xb;
  *b = t / nb;
  *x0 = (int)(t % nb) * xb;
  *x1 = std::min(X, *x0 + xb);
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

// in [B,X,Y,Z,C], wT [27, C*m] → out [B,X,Y,Z,C*m]. One parallel region: the input expanded (each
// channel repeated m times), then each block's taps.
void aa_ca_dw_forward(const float* in, const float* wT, float* out, int64_t B, int X, int Y, int Z, int C, int m,
                      int px, int py, int pz, int threads) {
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z, plane = (int64_t)Y * Z;
  const int xb = x_block(X, Y, Z), nb = (X + xb - 1) / xb;
  float* xe = m == 1 ? nullptr : scratch((size_t)(B * N * Cm));
  const float* expanded = m == 1 ? in : xe;
#pragma omp parallel num_threads(threads)
  {
    if (m != 1) expand_all(in, B * N, C, m, xe);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < B * nb; ++t) {
      int64_t b;
      int x0, x1;
      block_of(t, X, xb, &b, &x0, &x1);
      const float* src = expanded + b * N * Cm;
      float* dst = out + b * N * Cm;
      std::memset(dst + x0 * plane * Cm, 0, sizeof(float) * (x1 - x0) * plane * Cm);
      for_each_run(X, Y, Z, px, py, pz, 1, x0, x1, [&](int k, int64_t p, int64_t L, int64_t delta) {
        add_weighted_run(dst + p * Cm, src + (p + delta) * Cm, wT + (int64_t)k * Cm, L, Cm);
      });
    }
  }
}

// grad_out [B,X,Y,Z,C*m] → grad_in [B,X,Y,Z,C] (a gather: cell p collects from the cells q = p − d_k)
void aa_ca_dw_backward_input(const float* gout, const float* wT, float* gin, int64_t B, int X, int Y, int Z, int C, int m,
                             int px, int py, int pz, int threads) {
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z, plane = (int64_t)Y * Z;
  const int xb = x_block(X, Y, Z), nb = (X + xb - 1) / xb;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> acc((size_t)xb * plane * Cm);  // the block's [cells, C·m] sums before the sum over m
#pragma omp for schedule(static)
    for (int64_t t = 0; t < B * nb; ++t) {
      int64_t b;
      int x0, x1;
      block_of(t, X, xb, &b, &x0, &x1);
      const int64_t first = x0 * plane, cells = (x1 - x0) * plane;
      const float* go = gout + b * N * Cm;
      std::fill(acc.begin(), acc.begin() + cells * Cm, 0.f);
      for_each_run(X, Y, Z, px, py, pz, -1, x0, x1, [&](int k, int64_t p, int64_t L, int64_t delta) {
        add_weighted_run(acc.data() + (p - first) * Cm, go + (p + delta) * Cm, wT + (int64_t)k * Cm, L, Cm);
      });
      sum_over_m(acc.data(), cells * C, m, gin + (b * N + first) * C);
    }
  }
}

// grad_wT [27, C*m] = Σ_cells grad_out[q, c·m + j] · in[q + d_k, c] (the input expanded as in the forward)
void aa_ca_dw_backward_weight(const float* in, const float* gout, float* gwT, int64_t B, int X, int Y, int Z, int C, int m,
                              int px, int py, int pz, int threads) {
  const int Cm = C * m;
  const int64_t N = (int64_t)X * Y * Z, plane = (int64_t)Y * Z;
  const int xb = x_block(X, Y, Z), nb = (X + xb - 1) / xb;
  float* xe = m == 1 ? nullptr : scratch((size_t)(B * N * Cm));
  const float* expanded = m == 1 ? in : xe;
  std::vector<float> partial((size_t)threads * 27 * Cm, 0.f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + (size_t)thread_id() * 27 * Cm;
    if (m != 1) expand_all(in, B * N, C, m, xe);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < B * nb; ++t) {
      int64_t b;
      int x0, x1;
      block_of(t, X, xb, &b, &x0, &x1);
      const float* src = expanded + b * N * Cm;
      const float* go = gout + b * N * Cm;
      for_each_run(X, Y, Z, px, py, pz, 1, x0, x1, [&](int k, int64_t p, int64_t L, int64_t delta) {
        float* __restrict w = mine + (int64_t)k * Cm;
        for (int64_t i = 0; i < L; ++i) {
          const float* __restrict g = go + (p + i) * Cm;
          const float* __restrict v = src + (p + delta + i) * Cm;
          for (int o = 0; o < Cm; ++o) w[o] += g[o] * v[o];
        }
      });
    }
  }
  sum_partials(partial, threads, 27 * Cm, gwT);
}

// ---- the same three at chosen cells only: rows[r] is cell idx[r] (sorted flat ids in [0, B·N)) ----

// out [R, C*m]: the perception of cell idx[r] (in [B,X,Y,Z,C], expanded here as in the dense forward)
void aa_ca_dw_forward_at(const float* in, const float* wT, float* out, const int64_t* idx, int64_t R, int64_t B, int X,
                         int Y, int Z, int C, int m, int px, int py, int pz, int threads) {
  const Geo g(B, X, Y, Z, C, m, px, py, pz, 1);
  const int Cm = C * m;
  float* xe = m == 1 ? nullptr : scratch((size_t)(B * g.N * Cm));
  const float* expanded = m == 1 ? in : xe;
#pragma omp parallel num_threads(threads)
  {
    if (m != 1) expand_all(in, B * g.N, C, m, xe);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < R; ++r) {
      int x, y, z;
      cell_xyz(g, idx[r] % g.N, &x, &y, &z);
      weighted_neighbours(g, expanded + (idx[r] / g.N) * g.N * Cm, wT, x, y, z, out + r * Cm);
    }
  }
}

// grad_rows [R, m, C] → grad_in [B,X,Y,Z,C] (zeroed here): a scatter, so each thread takes whole samples
// (starts[b] = the first row of sample b, starts[B] = R). Rows and weights (wTm [27, m, C]) come m-major,
// so the sum over a channel's m features is m contiguous vector FMAs.
void aa_ca_dw_backward_input_at(const float* gout, const float* wT, float* gin, const int64_t* idx, const int64_t* starts,
                                int64_t B, int X, int Y, int Z, int C, int m, int px, int py, int pz, int threads) {
  const Geo g(B, X, Y, Z, C, m, px, py, pz, 1);
  const int Cm = C * m;
  std::memset(gin, 0, sizeof(float) * B * g.N * C);
#pragma omp parallel for num_threads(threads) schedule(dynamic)
  for (int64_t b = 0; b < B; ++b) {
    float* dst = gin + b * g.N * C;
    for (int64_t r = starts[b]; r < starts[b + 1]; ++r) {
      int x, y, z;
      cell_xyz(g, idx[r] % g.N, &x, &y, &z);
      const float* __restrict go = gout + r * Cm;
      for_each_tap(g, x, y, z, [&](int k, int64_t q) {
        const float* __restrict w = wT + (int64_t)k * Cm;
        float* __restrict d = dst + q * C;
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
      });
    }
  }
}

// grad_wT [27, C*m] = Σ_r grad_rows[r, c·m + j] · in[idx[r] + d_k, c] (in expanded here)
void aa_ca_dw_backward_weight_at(const float* in, const float* gout, float* gwT, const int64_t* idx, int64_t R, int64_t B,
                                 int X, int Y, int Z, int C, int m, int px, int py, int pz, int threads) {
  const Geo g(B, X, Y, Z, C, m, px, py, pz, 1);
  const int Cm = C * m;
  float* xe = m == 1 ? nullptr : scratch((size_t)(B * g.N * Cm));
  const float* expanded = m == 1 ? in : xe;
  std::vector<float> partial((size_t)threads * 27 * Cm, 0.f);
#pragma omp parallel num_threads(threads)
  {
    float* mine = partial.data() + (size_t)thread_id() * 27 * Cm;
    if (m != 1) expand_all(in, B * g.N, C, m, xe);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < R; ++r) {
      int x, y, z;
      cell_xyz(g, idx[r] % g.N, &x, &y, &z);
      add_weight_grad(g, expanded + (idx[r] / g.N) * g.N * Cm, gout + r * Cm, x, y, z, mine);
    }
  }
  sum_partials(partial, threads, 27 * Cm, gwT);
}
}
