// Training-mode BatchNorm2d for MindSpore's CPU custom ops (func_type "aot"), float32, NCHW.
//
// MindSpore's BatchNorm + BatchNormGrad on CPU cost 9-11 passes over the map per training step (bench.py
// --batchnorm); these kernels do it in 5: forward = statistics (BatchNormStats, one read) + normalise
// (BatchNormApply, one read, one write), backward = two per-channel sums (one read of dy and x) + the input gradient
// (one read of each, one write). BatchNormApplyReLU[6] and BatchNormReLU[6]Grad take in a ReLU (ReLU6) that
// follows: the gradient recomputes the activation's mask from x, so neither direction needs the ReLU's output, and a training graph
// that recomputes the normalised map in its backward pass (batchnorm.py) keeps only x per BatchNorm.
// OpenMP runs over channels: each thread owns whole channels, so every channel's N*H*W reduction is one sequential
// sum in double (exact to float32 precision without a second pass for the variance).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace {

bool is_f32(const char *dtype) { return std::strcmp(dtype, "float32") == 0 || std::strcmp(dtype, "float") == 0; }

inline double hsum(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// Adds the sum of a[0..n) to *s and the sum of a[i] * b[i] to *q, both in double (b == a: the sum of squares).
inline void sum_and_dot(const float *a, const float *b, int64_t n, double *s, double *q) {
  __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd(), q0 = _mm256_setzero_pd(), q1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 va = _mm256_loadu_ps(a + i), vb = _mm256_loadu_ps(b + i);
    __m256d alo = _mm256_cvtps_pd(_mm256_castps256_ps128(va)), ahi = _mm256_cvtps_pd(_mm256_extractf128_ps(va, 1));
    __m256d blo = _mm256_cvtps_pd(_mm256_castps256_ps128(vb)), bhi = _mm256_cvtps_pd(_mm256_extractf128_ps(vb, 1));
    s0 = _mm256_add_pd(s0, alo);
    s1 = _mm256_add_pd(s1, ahi);
    q0 = _mm256_fmadd_pd(alo, blo, q0);
    q1 = _mm256_fmadd_pd(ahi, bhi, q1);
  }
  double ts = hsum(_mm256_add_pd(s0, s1)), tq = hsum(_mm256_add_pd(q0, q1));
  for (; i < n; ++i) {
    ts += a[i];
    tq += static_cast<double>(a[i]) * b[i];
  }
  *s += ts;
  *q += tq;
}

// out[i] = (a[i] - center) * scale + shift (+ b[i] * bscale when b is given), AVX2/FMA, float.
inline void affine(const float *a, float center, float scale, float shift, const float *b, float bscale,
                   float *out, int64_t n) {
  const __m256 vc = _mm256_set1_ps(center), vs = _mm256_set1_ps(scale), vt = _mm256_set1_ps(shift);
  const __m256 vb = _mm256_set1_ps(bscale);
  int64_t i = 0;
  if (b == nullptr) {
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_sub_ps(_mm256_loadu_ps(a + i), vc);
      _mm256_storeu_ps(out + i, _mm256_fmadd_ps(v, vs, vt));
    }
    for (; i < n; ++i) out[i] = (a[i] - center) * scale + shift;
    return;
  }
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_sub_ps(_mm256_loadu_ps(a + i), vc);
    __m256 r = _mm256_fmadd_ps(_mm256_loadu_ps(b + i), vb, vt);
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(v, vs, r));
  }
  for (; i < n; ++i) out[i] = (a[i] - center) * scale + (b[i] * bscale + shift);
}

bool same_shape(const int64_t *a, const int64_t *b, int nd) {
  for (int d = 0; d < nd; ++d) {
    if (a[d] != b[d]) return false;
  }
  return true;
}

// The config tensor: float32 {eps, momentum (the weight of the batch statistic), threads}.
int threads_of(const float *config) { return std::max(1, static_cast<int>(config[2])); }

// The activation after the BatchNorm that the kernels take in: none, ReLU or ReLU6.
enum Act { kNone = 0, kRelu = 1, kRelu6 = 2 };

// out[i] = act((a[i] - center) * scale + shift), AVX2/FMA, float: A is kRelu or kRelu6.
template <int A>
inline void affine_act(const float *a, float center, float scale, float shift, float *out, int64_t n) {
  const __m256 vc = _mm256_set1_ps(center), vs = _mm256_set1_ps(scale), vt = _mm256_set1_ps(shift);
  const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_max_ps(_mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(a + i), vc), vs, vt), zero);
    _mm256_storeu_ps(out + i, A == kRelu6 ? _mm256_min_ps(v, six) : v);
  }
  for (; i < n; ++i) {
    const float v = std::max(0.0f, (a[i] - center) * scale + shift);
    out[i] = A == kRelu6 ? std::min(v, 6.0f) : v;
  }
}

// out[i] = dy[i] where the activation passed v = (a[i] - center) * scale + shift (ReLU: v > 0; ReLU6: 0 < v < 6,
// as layers.ReLU6's gradient, zero at 6), else 0.
template <int A>
inline void act_mask(const float *dy, const float *a, float center, float scale, float shift, float *out,
                     int64_t n) {
  const __m256 vc = _mm256_set1_ps(center), vs = _mm256_set1_ps(scale), vt = _mm256_set1_ps(shift);
  const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(a + i), vc), vs, vt);
    __m256 pass = _mm256_cmp_ps(v, zero, _CMP_GT_OQ);
    if (A == kRelu6) pass = _mm256_and_ps(pass, _mm256_cmp_ps(v, six, _CMP_LT_OQ));
    _mm256_storeu_ps(out + i, _mm256_and_ps(_mm256_loadu_ps(dy + i), pass));
  }
  for (; i < n; ++i) {
    const float v = (a[i] - center) * scale + shift;
    out[i] = v > 0.0f && (A != kRelu6 || v < 6.0f) ? dy[i] : 0.0f;
  }
}

// Whether every param is float32, the maps at `maps` have params[0]'s (N, C, H, W) shape, the vectors at `vectors`
// C values and the config at `config` 3.
bool shapes_fit(int64_t **shapes, int *ndims, const char **dtypes, int nparam, std::initializer_list<int> maps,
                std::initializer_list<int> vectors, int config) {
  for (int i = 0; i < nparam; ++i) {
    if (!is_f32(dtypes[i])) return false;
  }
  for (int i : maps) {
    if (ndims[i] != 4 || !same_shape(shapes[0], shapes[i], 4)) return false;
  }
  for (int i : vectors) {
    if (ndims[i] != 1 || shapes[i][0] != shapes[0][1]) return false;
  }
  return ndims[config] == 1 && shapes[config][0] == 3;
}


// The BatchNorm backward of every channel (threads over channels): dbeta = sum(g), dgamma = sum(g * xhat), dx =
// gamma * invstd * (g - dbeta / M - xhat * dgamma / M), xhat = (x - mean) * invstd, M = N*H*W; g = dy, or with
// an activation A dy masked where the activation's input (x normalised with gamma and beta) was outside its
// passing range, rebuilt per plane in a per-thread buffer in each of the two passes.
template <int A>
void norm_grad(const float *dy, const float *x, const float *gamma, const float *beta, const float *mean,
               const float *invstd, const int64_t *shape, int threads, float *dx, float *dgamma, float *dbeta) {
  const int64_t n = shape[0], c = shape[1], size = shape[2] * shape[3], count = n * size;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> masked(A != kNone ? size : 0);
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float norm_scale = gamma[ch] * invstd[ch];
      auto grad_at = [&](int64_t off) -> const float * {
        if (A == kNone) return dy + off;
        act_mask<A>(dy + off, x + off, mean[ch], norm_scale, beta[ch], masked.data(), size);
        return masked.data();
      };
      double sdy = 0.0, sdyx = 0.0;
      for (int64_t b = 0; b < n; ++b) {
        const int64_t off = (b * c + ch) * size;
        sum_and_dot(grad_at(off), x + off, size, &sdy, &sdyx);
      }
      // sum(g * (x - mean)) = sum(g * x) - mean * sum(g), in double
      const double dg = (sdyx - static_cast<double>(mean[ch]) * sdy) * invstd[ch];
      const double a = static_cast<double>(gamma[ch]) * invstd[ch];
      // dx = a * g + (x - mean) * (-a * invstd * dgamma / M) - a * dbeta / M
      const float scale = static_cast<float>(-a * invstd[ch] * dg / count);
      const float shift = static_cast<float>(-a * sdy / count);
      for (int64_t b = 0; b < n; ++b) {
        const int64_t off = (b * c + ch) * size;
        affine(x + off, mean[ch], scale, shift, grad_at(off), static_cast<float>(a), dx + off, size);
      }
      dgamma[ch] = static_cast<float>(dg);
      dbeta[ch] = static_cast<float>(sdy);
    }
  }
}

}  // namespace

// Backward of BatchNormApply (with its statistics) to x, gamma and beta (norm_grad). params: dy (N, C, H, W), x (N,
// C, H, W), gamma, batch mean, batch inverse std (C each), config (3) | dx (N, C, H, W), dgamma (C), dbeta (C).
// Returns 1 on wrong types, ranks or shapes.
extern "C" int BatchNormTrainGrad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                  void *, void *) {
  if (nparam != 9 || !shapes_fit(shapes, ndims, dtypes, nparam, {0, 1, 6}, {2, 3, 4, 7, 8}, 5)) return 1;
  const float *dy = static_cast<float *>(params[0]), *x = static_cast<float *>(params[1]);
  const float *gamma = static_cast<float *>(params[2]), *mean = static_cast<float *>(params[3]);
  const float *invstd = static_cast<float *>(params[4]), *config = static_cast<float *>(params[5]);
  float *dx = static_cast<float *>(params[6]), *dgamma = static_cast<float *>(params[7]);
  float *dbeta = static_cast<float *>(params[8]);
  norm_grad<kNone>(dy, x, gamma, nullptr, mean, invstd, shapes[0], threads_of(config), dx, dgamma, dbeta);
  return 0;
}

// x * gate after a training BatchNorm, for a gate (N, C, 1, 1) computed from the BatchNorm's output y: a
// squeeze-excite product whose gate gradient (below) reads the BatchNorm's input z, which the BatchNorm's own
// backward keeps, instead of y, which the graph can then free after the forward pass. params: y (N, C, H, W),
// gate (N, C, 1, 1), config (3) | out = y * gate; or y, gate, then the backward's z (N, C, H, W), gamma, beta,
// batch mean, batch inverse std (C each), config (3) | out, where the five extra inputs are only checked.
extern "C" int GateAfterNorm(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                             void *) {
  if ((nparam != 4 && nparam != 9) || ndims[0] != 4 || ndims[1] != 4 || ndims[nparam - 1] != 4) return 1;
  for (int i = 0; i < nparam; ++i) {
    if (!is_f32(dtypes[i])) return 1;
  }
  const int64_t *shape = shapes[0];
  const int64_t c = shape[1], planes = shape[0] * shape[1], size = shape[2] * shape[3];
  if (shapes[1][0] != shape[0] || shapes[1][1] != c || shapes[1][2] != 1 || shapes[1][3] != 1) return 2;
  if (!same_shape(shape, shapes[nparam - 1], 4) || ndims[nparam - 2] != 1 || shapes[nparam - 2][0] != 3) return 2;
  if (nparam == 9) {
    if (ndims[2] != 4 || !same_shape(shape, shapes[2], 4)) return 2;
    for (int i = 3; i < 7; ++i) {
      if (ndims[i] != 1 || shapes[i][0] != c) return 2;
    }
  }
  const float *y = static_cast<float *>(params[0]), *gate = static_cast<float *>(params[1]);
  const float *config = static_cast<float *>(params[nparam - 2]);
  float *out = static_cast<float *>(params[nparam - 1]);
#pragma omp parallel for schedule(static) num_threads(threads_of(config))
  for (int64_t p = 0; p < planes; ++p) affine(y + p * size, 0.0f, gate[p], 0.0f, nullptr, 0.0f, out + p * size, size);
  return 0;
}

// GateAfterNorm's gradient for its gate: sum over the map of dout * y per (sample, channel), with y = (z - mean) *
// gamma * invstd + beta recomputed from the BatchNorm's input, in double: gamma * invstd * (sum(dout * z) - mean *
// sum(dout)) + beta * sum(dout). params: dout (N, C, H, W), z (N, C, H, W), gamma, beta, batch mean, batch
// inverse std (C each), config (3) | dgate (N, C, 1, 1).
extern "C" int GateAfterNormGrad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                 void *, void *) {
  if (nparam != 8 || ndims[0] != 4 || ndims[1] != 4 || ndims[7] != 4) return 1;
  for (int i = 0; i < nparam; ++i) {
    if (!is_f32(dtypes[i]) || (i > 1 && i < 7 && ndims[i] != 1)) return 1;
  }
  const int64_t *shape = shapes[0];
  const int64_t c = shape[1], size = shape[2] * shape[3];
  if (!same_shape(shape, shapes[1], 4) || shapes[6][0] != 3) return 2;
  if (shapes[7][0] != shape[0] || shapes[7][1] != c || shapes[7][2] != 1 || shapes[7][3] != 1) return 2;
  for (int i = 2; i < 6; ++i) {
    if (shapes[i][0] != c) return 2;
  }
  const float *dout = static_cast<float *>(params[0]), *z = static_cast<float *>(params[1]);
  const float *gamma = static_cast<float *>(params[2]), *beta = static_cast<float *>(params[3]);
  const float *mean = static_cast<float *>(params[4]), *invstd = static_cast<float *>(params[5]);
  const float *config = static_cast<float *>(params[6]);
  float *dgate = static_cast<float *>(params[7]);
#pragma omp parallel for schedule(static) num_threads(threads_of(config))
  for (int64_t p = 0; p < shape[0] * c; ++p) {
    const int64_t ch = p % c;
    double sd = 0.0, sdz = 0.0;
    sum_and_dot(dout + p * size, z + p * size, size, &sd, &sdz);
    const double scale = static_cast<double>(gamma[ch]) * invstd[ch];
    dgate[p] = static_cast<float>(scale * (sdz - static_cast<double>(mean[ch]) * sd) + beta[ch] * sd);
  }
  return 0;
}

// The batch statistics of a training BatchNorm. params: x (N, C, H, W), moving_mean (C), moving_variance (C),
// config (3) | batch mean, batch inverse std 1/sqrt(var + eps), the updated moving mean and moving variance (C
// each): moving = (1 - momentum) * moving + momentum * batch, with the unbiased batch variance (var * M / (M - 1),
// M = N*H*W) for the moving variance as MindSpore's CPU BatchNorm does, the biased one for normalising. Returns 1
// on wrong types, ranks or shapes, 3 when M < 2.
extern "C" int BatchNormStats(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                              void *) {
  if (nparam != 8 || !shapes_fit(shapes, ndims, dtypes, nparam, {0}, {1, 2, 4, 5, 6, 7}, 3)) return 1;
  const int64_t n = shapes[0][0], c = shapes[0][1], size = shapes[0][2] * shapes[0][3], count = n * size;
  if (count < 2) return 3;
  const float *x = static_cast<float *>(params[0]), *moving_mean = static_cast<float *>(params[1]);
  const float *moving_var = static_cast<float *>(params[2]), *config = static_cast<float *>(params[3]);
  float *mean_out = static_cast<float *>(params[4]), *invstd_out = static_cast<float *>(params[5]);
  float *new_mean = static_cast<float *>(params[6]), *new_var = static_cast<float *>(params[7]);
  const double eps = config[0];
  const float momentum = config[1];
#pragma omp parallel for schedule(static) num_threads(threads_of(config))
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0.0, q = 0.0;
    for (int64_t b = 0; b < n; ++b) {
      const float *plane = x + (b * c + ch) * size;
      sum_and_dot(plane, plane, size, &s, &q);
    }
    const double mean = s / count, var = std::max(0.0, q / count - mean * mean);
    mean_out[ch] = static_cast<float>(mean);
    invstd_out[ch] = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float unbiased = static_cast<float>(var * count / (count - 1));
    new_mean[ch] = moving_mean[ch] * (1.0f - momentum) + static_cast<float>(mean) * momentum;
    new_var[ch] = moving_var[ch] * (1.0f - momentum) + unbiased * momentum;
  }
  return 0;
}

// y = (x - mean) * invstd * gamma + beta (then the activation A). params: x (N, C, H, W), gamma, beta, batch mean,
// batch inverse std (C each), config (3) | y (N, C, H, W).
template <int A>
int apply_norm(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 7 || !shapes_fit(shapes, ndims, dtypes, nparam, {0, 6}, {1, 2, 3, 4}, 5)) return 1;
  const int64_t n = shapes[0][0], c = shapes[0][1], size = shapes[0][2] * shapes[0][3];
  const float *x = static_cast<float *>(params[0]), *gamma = static_cast<float *>(params[1]);
  const float *beta = static_cast<float *>(params[2]), *mean = static_cast<float *>(params[3]);
  const float *invstd = static_cast<float *>(params[4]), *config = static_cast<float *>(params[5]);
  float *y = static_cast<float *>(params[6]);
#pragma omp parallel for schedule(static) num_threads(threads_of(config))
  for (int64_t p = 0; p < n * c; ++p) {
    const int64_t ch = p % c;
    const float scale = gamma[ch] * invstd[ch];
    if (A == kNone) {
      affine(x + p * size, mean[ch], scale, beta[ch], nullptr, 0.0f, y + p * size, size);
    } else {
      affine_act<A>(x + p * size, mean[ch], scale, beta[ch], y + p * size, size);
    }
  }
  return 0;
}

extern "C" int BatchNormApply(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                              void *) {
  return apply_norm<kNone>(nparam, params, ndims, shapes, dtypes);
}

extern "C" int BatchNormApplyReLU(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                  void *, void *) {
  return apply_norm<kRelu>(nparam, params, ndims, shapes, dtypes);
}

extern "C" int BatchNormApplyReLU6(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                   void *, void *) {
  return apply_norm<kRelu6>(nparam, params, ndims, shapes, dtypes);
}

// Backward of BatchNormApplyReLU / ReLU6 (with its statistics): BatchNormTrainGrad of dy masked where the
// activation's input, recomputed from x, was outside its passing range. params: dy, x (N, C, H, W), gamma, beta,
// batch mean, batch inverse std (C each), config (3) | dx (N, C, H, W), dgamma, dbeta (C each).
template <int A>
int act_grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 10 || !shapes_fit(shapes, ndims, dtypes, nparam, {0, 1, 7}, {2, 3, 4, 5, 8, 9}, 6)) return 1;
  const float *dy = static_cast<float *>(params[0]), *x = static_cast<float *>(params[1]);
  const float *gamma = static_cast<float *>(params[2]), *beta = static_cast<float *>(params[3]);
  const float *mean = static_cast<float *>(params[4]), *invstd = static_cast<float *>(params[5]);
  const float *config = static_cast<float *>(params[6]);
  float *dx = static_cast<float *>(params[7]), *dgamma = static_cast<float *>(params[8]);
  float *dbeta = static_cast<float *>(params[9]);
  norm_grad<A>(dy, x, gamma, beta, mean, invstd, shapes[0], threads_of(config), dx, dgamma, dbeta);
  return 0;
}

extern "C" int BatchNormReLUGrad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                 void *, void *) {
  return act_grad<kRelu>(nparam, params, ndims, shapes, dtypes);
}

extern "C" int BatchNormReLU6Grad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                  void *, void *) {
  return act_grad<kRelu6>(nparam, params, ndims, shapes, dtypes);
}
