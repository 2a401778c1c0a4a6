// The growing_nca cell's depthwise 3×3×3 perception on a channels-last lattice, with its backward pass.
//
// out[b, x, y, z, c·m + j] = Σ_k w[c·m + j, k] · in[b, (x, y, z) + d_k, c], zero or periodic boundary per
// axis. oneDNN's grouped convolution is slow on these shapes (a few channels per group, tiny lattices),
// while the arithmetic is small (27·m·C MACs per cell), so plain loops — forward, input gradient (a
// gather, so no write conflicts) and weight gradient (per-thread partial sums) — parallelised over
// (sample, x-plane) with OpenMP do it in a fraction of the time; the *_at variants compute only the rows
// of chosen cells (the masked update). Plain C ABI, no torch headers: built by aa_core.native
// (native_library in aa_core.plugin) and wrapped as torch custom ops in aa_nca/cell_kernel.py.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
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
    float* mine = partial.data() + (size_t)thread_id() * 27 * Cm;
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
    float* mine = partial.data() + (size_t)thread_id() * 27 * Cm;
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
