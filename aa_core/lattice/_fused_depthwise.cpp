// Fused no-grad forward of the depthwise NCA cell on a channels-last lattice.
//
// delta[b,x,y,z,:] = W2 · relu(W1 · p + b1) + b2, p = depthwise 3×3×3 perception of the grid.
// Per cell ~(27·M·C + M·C·H + H·C) MACs (6.8K at C=16, M=4, H=64) instead of the folded dense
// conv's 27·C·H + H·C (28.7K). Work is split over (batch, x-plane) with at::parallel_for; each
// thread keeps a ring of three padded x-planes (boundary rule applied while copying: zero or
// periodic per axis), so every read of the 3×3×3 stencil is an in-bounds, cache-resident load.
// Register blocking: NB cells along z share each weight-vector load; vectors span channels
// (GCC vector extensions, compiled with -march=native). Plain C ABI (loaded with ctypes): no torch
// headers, so it builds in seconds; OpenMP resolves to the libgomp torch has already loaded.
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

template <int W>
struct V {
  typedef float type __attribute__((vector_size(W * 4)));
};

template <int W>
inline typename V<W>::type load(const float* p) {
  typename V<W>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

template <int W>
inline void store(float* p, typename V<W>::type v) {
  std::memcpy(p, &v, sizeof(v));
}

// Copy source plane xs (may be -1 or X) of sample `in` into a (Y+2)×(Z+2)×C padded plane.
template <int C>
void fill_plane(float* dst, const float* in, int xs, int X, int Y, int Z, bool px, bool py, bool pz) {
  const int Zp = Z + 2;
  if (xs < 0 || xs >= X) {
    if (!px) {
      std::memset(dst, 0, sizeof(float) * (Y + 2) * Zp * C);
      return;
    }
    xs = (xs + X) % X;
  }
  const float* plane = in + (int64_t)xs * Y * Z * C;
  for (int yp = 0; yp < Y + 2; ++yp) {
    float* row = dst + (int64_t)yp * Zp * C;
    int ys = yp - 1;
    if (ys < 0 || ys >= Y) {
      if (!py) {
        std::memset(row, 0, sizeof(float) * Zp * C);
        continue;
      }
      ys = (ys + Y) % Y;
    }
    const float* src = plane + (int64_t)ys * Z * C;
    std::memcpy(row + C, src, sizeof(float) * Z * C);
    if (pz) {
      std::memcpy(row, src + (int64_t)(Z - 1) * C, sizeof(float) * C);
      std::memcpy(row + (int64_t)(Z + 1) * C, src, sizeof(float) * C);
    } else {
      std::memset(row, 0, sizeof(float) * C);
      std::memset(row + (int64_t)(Z + 1) * C, 0, sizeof(float) * C);
    }
  }
}

// NB cells starting at z0 of row y: perception → fc1 → relu → fc2, written to out.
template <int C, int M, int H, int NB>
inline void cells_block(const float* const* planes, int y, int z0, int Zp,
                        const float* wp, const float* w1, const float* b1, const float* w2, const float* b2,
                        float* out) {
  constexpr int VW = (C % 16 == 0 && H % 16 == 0) ? 16 : 8;
  typedef typename V<VW>::type vf;
  constexpr int CV = C / VW, P = M * C, HV = H / VW;
  alignas(64) float p[NB][P];
  alignas(64) float h[NB][H];

  // depthwise perception: p[n][j*C + c] = sum_k wp[k][j][c] * x[n + dz][c]
  {
    vf acc[NB][M][CV];
    for (int n = 0; n < NB; ++n)
      for (int j = 0; j < M; ++j)
        for (int v = 0; v < CV; ++v) acc[n][j][v] = vf{};
    int k = 0;
    for (int dx = 0; dx < 3; ++dx)
      for (int dy = 0; dy < 3; ++dy) {
        const float* row = planes[dx] + ((int64_t)(y + dy) * Zp + z0) * C;
        for (int dz = 0; dz < 3; ++dz, ++k) {
          vf x[NB][CV];
          for (int n = 0; n < NB; ++n)
            for (int v = 0; v < CV; ++v) x[n][v] = load<VW>(row + (n + dz) * C + v * VW);
          const float* wk = wp + k * P;
          for (int j = 0; j < M; ++j)
            for (int v = 0; v < CV; ++v) {
              vf w = load<VW>(wk + j * C + v * VW);
              for (int n = 0; n < NB; ++n) acc[n][j][v] += w * x[n][v];
            }
        }
      }
    for (int n = 0; n < NB; ++n)
      for (int j = 0; j < M; ++j)
        for (int v = 0; v < CV; ++v) store<VW>(&p[n][j * C + v * VW], acc[n][j][v]);
  }
  // fc1 + relu: h[n] = relu(b1 + sum_i p[n][i] * w1[i])
  {
    vf acc[NB][HV];
    for (int v = 0; v < HV; ++v) {
      vf bb = load<VW>(b1 + v * VW);
      for (int n = 0; n < NB; ++n) acc[n][v] = bb;
    }
    for (int i = 0; i < P; ++i) {
      const float* wi = w1 + i * H;
      for (int v = 0; v < HV; ++v) {
        vf w = load<VW>(wi + v * VW);
        for (int n = 0; n < NB; ++n) acc[n][v] += p[n][i] * w;
      }
    }
    const vf zero{};
    for (int n = 0; n < NB; ++n)
      for (int v = 0; v < HV; ++v) store<VW>(&h[n][v * VW], acc[n][v] > zero ? acc[n][v] : zero);
  }
  // fc2: out[n] = b2 + sum_i h[n][i] * w2[i]
  {
    vf acc[NB][CV];
    for (int v = 0; v < CV; ++v) {
      vf bb = load<VW>(b2 + v * VW);
      for (int n = 0; n < NB; ++n) acc[n][v] = bb;
    }
    for (int i = 0; i < H; ++i) {
      const float* wi = w2 + i * C;
      for (int v = 0; v < CV; ++v) {
        vf w = load<VW>(wi + v * VW);
        for (int n = 0; n < NB; ++n) acc[n][v] += h[n][i] * w;
      }
    }
    for (int n = 0; n < NB; ++n)
      for (int v = 0; v < CV; ++v) store<VW>(out + n * C + v * VW, acc[n][v]);
  }
}

template <int C, int M, int H>
void run(const float* in, float* out, int64_t B, int X, int Y, int Z, bool px, bool py, bool pz,
         const float* wp, const float* w1, const float* b1, const float* w2, const float* b2, int threads) {
  constexpr int VW = (C % 16 == 0 && H % 16 == 0) ? 16 : 8;
  constexpr int CV = C / VW, HV = H / VW;
  // cells per register block: about 16 accumulators in the widest stage
  constexpr int widest = (M * CV > HV ? M * CV : HV);
  constexpr int NB = widest >= 16 ? 1 : widest >= 8 ? 2 : 4;
  const int Zp = Z + 2;
  const int64_t plane_floats = (int64_t)(Y + 2) * Zp * C;
  const int64_t sample = (int64_t)X * Y * Z * C;
  const int64_t tasks = B * X;
  if (threads < 1) threads = 1;
  if (threads > tasks) threads = (int)tasks;
#pragma omp parallel num_threads(threads)
  {
    int nt = 1, id = 0;
#ifdef _OPENMP
    nt = omp_get_num_threads();
    id = omp_get_thread_num();
#endif
    // contiguous range of (b, x) planes per thread, so the plane ring is reused
    const int64_t begin = tasks * id / nt, end = tasks * (id + 1) / nt;
    std::vector<float> ring(3 * plane_floats);
    int64_t have = -2;  // the (b, x) whose planes x-1..x+1 the ring holds
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / X;
      const int x = (int)(t % X);
      const float* src = in + b * sample;
      auto slot = [&](int xs) { return ring.data() + (int64_t)((xs + 1) % 3) * plane_floats; };
      if (have == t - 1 && x > 0) {
        fill_plane<C>(slot(x + 1), src, x + 1, X, Y, Z, px, py, pz);
      } else {
        for (int xs = x - 1; xs <= x + 1; ++xs) fill_plane<C>(slot(xs), src, xs, X, Y, Z, px, py, pz);
      }
      have = t;
      const float* planes[3] = {slot(x - 1), slot(x), slot(x + 1)};
      float* dst = out + b * sample + (int64_t)x * Y * Z * C;
      for (int y = 0; y < Y; ++y) {
        float* drow = dst + (int64_t)y * Z * C;
        int z = 0;
        for (; z + NB <= Z; z += NB)
          cells_block<C, M, H, NB>(planes, y, z, Zp, wp, w1, b1, w2, b2, drow + (int64_t)z * C);
        for (; z < Z; ++z)
          cells_block<C, M, H, 1>(planes, y, z, Zp, wp, w1, b1, w2, b2, drow + (int64_t)z * C);
      }
    }
  }
}

}  // namespace

#define AA_SHAPES(X_) X_(16, 4, 64) X_(8, 4, 64) X_(32, 4, 64) X_(16, 4, 128) X_(16, 2, 64) X_(16, 4, 32) X_(8, 4, 32)

extern "C" {

// 1 when (C, M, H) has a compiled kernel.
int aa_dw_supports(int C, int M, int H) {
#define AA_SUP(c, m, h) if (C == c && M == m && H == h) return 1;
  AA_SHAPES(AA_SUP)
#undef AA_SUP
  return 0;
}

// grid [B,X,Y,Z,C] fp32 contiguous → out (same shape); wp [27, M, C]; w1 [M·C, H] (rows j·C + c);
// b1 [H]; w2 [H, C]; b2 [C]. Returns 0 on success, -1 for an unsupported shape.
int aa_dw_forward(const float* in, float* out, int64_t B, int X, int Y, int Z, int C, int M, int H,
                  int px, int py, int pz, const float* wp, const float* w1, const float* b1,
                  const float* w2, const float* b2, int threads) {
#define AA_RUN(c, m, h)                                                                   \
  if (C == c && M == m && H == h) {                                                       \
    run<c, m, h>(in, out, B, X, Y, Z, px, py, pz, wp, w1, b1, w2, b2, threads);           \
    return 0;                                                                             \
  }
  AA_SHAPES(AA_RUN)
#undef AA_RUN
  return -1;
}

}  // extern "C"
