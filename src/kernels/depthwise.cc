// Depthwise 2-D convolution for MindSpore's CPU custom ops (func_type "aot"), float32, NCHW.
//
// Each function has MindSpore's AOT signature: params holds the inputs then the output; the last input is an int32
// "geometry" tensor {stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, threads}. Padding is symmetric per
// dimension. Every plane is first copied into a zero-padded buffer split into `stride_w` column phases, so that
// every inner loop runs over contiguous memory without bounds checks and vectorises (-O3 -mavx2 -mfma).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

struct Geometry {
  int64_t sh, sw, ph, pw, dh, dw;
  int threads;
  int64_t n, c, h, w, kh, kw, oh, ow;
  int64_t hq, wq;  // rows and columns of one phase of the padded plane
  int64_t span;    // the flattened output positions a tap touches: (oh - 1) * wq + ow
  int64_t phases() const { return sh * sw; }
  int64_t buffer() const { return sh * sw * hq * wq; }
  // Where the padded plane's element (r, col) sits in the phase buffer.
  int64_t at(int64_t r, int64_t col) const { return ((r % sh) * sw + col % sw) * hq * wq + (r / sh) * wq + col / sw; }
};

bool is_f32(const char *dtype) { return std::strcmp(dtype, "float32") == 0 || std::strcmp(dtype, "float") == 0; }

// Fills g from the geometry tensor, the input map's shape and the kernel's; false when they do not fit together.
bool make_geometry(const int32_t *geo, const int64_t *x, const int64_t *k, const int64_t *y, Geometry *g) {
  g->sh = geo[0]; g->sw = geo[1]; g->ph = geo[2]; g->pw = geo[3]; g->dh = geo[4]; g->dw = geo[5];
  g->threads = geo[6] > 0 ? geo[6] : 1;
  g->n = x[0]; g->c = x[1]; g->h = x[2]; g->w = x[3]; g->kh = k[2]; g->kw = k[3];
  if (g->sh < 1 || g->sw < 1 || g->dh < 1 || g->dw < 1 || g->ph < 0 || g->pw < 0) return false;
  g->oh = (g->h + 2 * g->ph - g->dh * (g->kh - 1) - 1) / g->sh + 1;
  g->ow = (g->w + 2 * g->pw - g->dw * (g->kw - 1) - 1) / g->sw + 1;
  if (k[0] != g->c || k[1] != 1 || y[0] != g->n || y[1] != g->c || y[2] != g->oh || y[3] != g->ow) return false;
  g->hq = (g->h + 2 * g->ph + g->sh - 1) / g->sh;
  g->wq = (g->w + 2 * g->pw + g->sw - 1) / g->sw;
  g->span = (g->oh - 1) * g->wq + g->ow;
  return g->oh > 0 && g->ow > 0;
}

// The zero-padded plane split into stride_h x stride_w phases (rows r % sh, columns col % sw), each hq x wq: the
// input under a tap (i, j) for the output (oy, ox) is then phase[tap][(oy + i0) * wq + ox + j0], so one tap over the
// whole output is one contiguous loop over oy * wq + ox (the columns past ow are computed and dropped).
// Only the interior is written: the caller zeroes the buffer once, the padding stays zero.
void fill_phases(const Geometry &g, const float *plane, float *buf) {
  for (int64_t r = 0; r < g.h; ++r) {
    const int64_t pr = r + g.ph;
    const float *src = plane + r * g.w;
    for (int64_t qc = 0; qc < g.sw; ++qc) {
      float *__restrict dst = buf + ((pr % g.sh) * g.sw + qc) * g.hq * g.wq + (pr / g.sh) * g.wq;
      int64_t t = (g.pw - qc + g.sw - 1) / g.sw;  // first phase column inside the map
      if (g.sw == 1) {
        std::memcpy(dst + g.pw, src, sizeof(float) * g.w);
        continue;
      }
      for (int64_t col = t * g.sw + qc - g.pw; col < g.w; col += g.sw, ++t) dst[t] = src[col];
    }
  }
}

// The start in the phase buffer of kernel tap (i, j) for output (0, 0).
inline int64_t tap_offset(const Geometry &g, int64_t i, int64_t j) { return g.at(i * g.dh, j * g.dw); }

// The activation a fused forward applies to bias + sum: none, ReLU or ReLU6.
enum Act { kNone = 0, kRelu = 1, kRelu6 = 2 };

template <int A>
inline __m256 activate(__m256 v) {
  if (A == kNone) return v;
  v = _mm256_max_ps(v, _mm256_setzero_ps());
  return A == kRelu6 ? _mm256_min_ps(v, _mm256_set1_ps(6.0f)) : v;
}

template <int A>
inline float activate(float v) {
  if (A == kNone) return v;
  v = std::max(v, 0.0f);
  return A == kRelu6 ? std::min(v, 6.0f) : v;
}

// out[q] = act(bias + sum over t of weights[t] * src[offsets[t] + q]) for q < span, 32 outputs at a time held in
// four AVX registers across all the taps (the compiler left this loop scalar). The forward pass and the gradient
// of the input (bias 0, no activation) are both this sum over the taps of a plane; the fused forward adds the
// bias and the activation in the registers, before the one store, instead of two more passes over the map.
template <int A = kNone>
void weighted_sum(const float *src, const float *weights, const int64_t *offsets, int64_t ntaps, int64_t span,
                  float *out, float bias = 0.0f) {
  const __m256 b = _mm256_set1_ps(bias);
  int64_t q0 = 0;
  for (; q0 + 32 <= span; q0 += 32) {
    __m256 a0 = b, a1 = b, a2 = b, a3 = b;
    for (int64_t t = 0; t < ntaps; ++t) {
      const float *p = src + offsets[t] + q0;
      const __m256 wv = _mm256_set1_ps(weights[t]);
      a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p), a0);
      a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 8), a1);
      a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 16), a2);
      a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(p + 24), a3);
    }
    _mm256_storeu_ps(out + q0, activate<A>(a0));
    _mm256_storeu_ps(out + q0 + 8, activate<A>(a1));
    _mm256_storeu_ps(out + q0 + 16, activate<A>(a2));
    _mm256_storeu_ps(out + q0 + 24, activate<A>(a3));
  }
  for (; q0 + 8 <= span; q0 += 8) {
    __m256 a0 = b;
    for (int64_t t = 0; t < ntaps; ++t) {
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(weights[t]), _mm256_loadu_ps(src + offsets[t] + q0), a0);
    }
    _mm256_storeu_ps(out + q0, activate<A>(a0));
  }
  for (; q0 < span; ++q0) {
    float acc = bias;
    for (int64_t t = 0; t < ntaps; ++t) acc += weights[t] * src[offsets[t] + q0];
    out[q0] = activate<A>(acc);
  }
}

// sum over q < span of a[q] * b[q], in double across blocks of 32 float products.
double dot(const float *a, const float *b, int64_t span) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int64_t q = 0;
  for (; q + 32 <= span; q += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + q), _mm256_loadu_ps(b + q), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + q + 8), _mm256_loadu_ps(b + q + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + q + 16), _mm256_loadu_ps(b + q + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + q + 24), _mm256_loadu_ps(b + q + 24), a3);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  double sum = 0.0;
  for (float v : lanes) sum += v;
  for (; q < span; ++q) sum += static_cast<double>(a[q]) * b[q];
  return sum;
}

// sum over q < span of a[q], in double across blocks of 32 floats.
double plane_sum(const float *a, int64_t span) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  double sum = 0.0;
  int64_t q = 0;
  for (; q + 32 <= span; q += 32) {
    a0 = _mm256_add_ps(_mm256_loadu_ps(a + q), a0);
    a1 = _mm256_add_ps(_mm256_loadu_ps(a + q + 8), a1);
    a2 = _mm256_add_ps(_mm256_loadu_ps(a + q + 16), a2);
    a3 = _mm256_add_ps(_mm256_loadu_ps(a + q + 24), a3);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (float v : lanes) sum += v;
  for (; q < span; ++q) sum += a[q];
  return sum;
}

// The phase-buffer offset of every tap, row-major like the weight.
std::vector<int64_t> tap_offsets(const Geometry &g) {
  std::vector<int64_t> taps;
  for (int64_t i = 0; i < g.kh; ++i) {
    for (int64_t j = 0; j < g.kw; ++j) taps.push_back(tap_offset(g, i, j));
  }
  return taps;
}

// The gradient of the input as a sum over taps too: phase P of the padded plane's gradient at q is the sum over the
// taps that land in P of weight * dy[q - (the tap's offset in P)]. `ext` holds dy at the phase width with zeros past
// ow, starting `front` zeros in (front >= every tap's offset), and zeros after.
struct InputGrad {
  int64_t front;
  std::vector<std::vector<int64_t>> offsets;  // per phase: front - offset of each of its taps
  std::vector<std::vector<int64_t>> taps;     // per phase: the taps' indices in the weight
};

InputGrad input_grad_plan(const Geometry &g) {
  InputGrad plan{g.hq * g.wq, std::vector<std::vector<int64_t>>(g.phases()),
                 std::vector<std::vector<int64_t>>(g.phases())};
  for (int64_t i = 0; i < g.kh; ++i) {
    for (int64_t j = 0; j < g.kw; ++j) {
      int64_t off = tap_offset(g, i, j), phase = off / (g.hq * g.wq);
      plan.offsets[phase].push_back(plan.front - off % (g.hq * g.wq));
      plan.taps[phase].push_back(i * g.kw + j);
    }
  }
  return plan;
}

void grad_input_plane(const Geometry &g, const InputGrad &plan, const float *dy, const float *k, float *weights,
                      float *ext, float *buf, float *dx) {
  float *rows = ext + plan.front;
  for (int64_t oy = 0; oy < g.oh; ++oy) std::memcpy(rows + oy * g.wq, dy + oy * g.ow, sizeof(float) * g.ow);
  const int64_t size = g.hq * g.wq;
  for (int64_t phase = 0; phase < g.phases(); ++phase) {
    const std::vector<int64_t> &taps = plan.taps[phase];
    for (size_t t = 0; t < taps.size(); ++t) weights[t] = k[taps[t]];
    weighted_sum(ext, weights, plan.offsets[phase].data(), taps.size(), size, buf + phase * size);
  }
  for (int64_t r = 0; r < g.h; ++r) {
    const int64_t pr = r + g.ph;
    float *dst = dx + r * g.w;
    for (int64_t qc = 0; qc < g.sw; ++qc) {
      const float *src = buf + ((pr % g.sh) * g.sw + qc) * size + (pr / g.sh) * g.wq;
      int64_t t = (g.pw - qc + g.sw - 1) / g.sw;
      for (int64_t col = t * g.sw + qc - g.pw; col < g.w; col += g.sw, ++t) dst[col] = src[t];
    }
  }
}

// Every parameter a float32 4-D tensor except the third, the geometry (7 int32).
bool check(int nparam, int expected, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != expected) return false;
  for (int i = 0; i < nparam; ++i) {
    if (i != 2 && (ndims[i] != 4 || !is_f32(dtypes[i]))) return false;
  }
  return ndims[2] == 1 && shapes[2][0] == 7 && std::strcmp(dtypes[2], "int32") == 0;
}

}  // namespace

// dy (oh x ow) at the phase width: rows of wq, the columns past ow left as they are (zero).
void widen(const Geometry &g, const float *dy, float *rows) {
  for (int64_t oy = 0; oy < g.oh; ++oy) std::memcpy(rows + oy * g.wq, dy + oy * g.ow, sizeof(float) * g.ow);
}

// The forward pass over every plane: x (N, C, H, W), weight (C, 1, kh, kw), bias (C) or null, y (N, C, OH, OW).
// With `join` (stride 1, OH = H, OW = W) y is (N, 2C, H, W), the concatenation of x and the conv along channels:
// a Ghost module's output, each input plane copied while it is in cache instead of a separate Concat pass.
template <int A>
void forward(const Geometry &g, const float *x, const float *k, const float *bias, float *y, bool join = false) {
  const std::vector<int64_t> taps = tap_offsets(g);
#pragma omp parallel num_threads(g.threads)
  {
    std::vector<float> buf(g.buffer(), 0.0f), ext(g.oh * g.wq);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < g.n * g.c; ++p) {
      const float *plane = x + p * g.h * g.w;
      fill_phases(g, plane, buf.data());
      weighted_sum<A>(buf.data(), k + (p % g.c) * g.kh * g.kw, taps.data(), taps.size(), g.span, ext.data(),
                      bias ? bias[p % g.c] : 0.0f);
      float *out = y + p * g.oh * g.ow;
      if (join) {
        float *copy = y + (p + (p / g.c) * g.c) * g.h * g.w;  // sample p / c, channel p % c of 2c
        std::memcpy(copy, plane, sizeof(float) * g.h * g.w);
        out = copy + g.c * g.h * g.w;
      }
      for (int64_t oy = 0; oy < g.oh; ++oy) std::memcpy(out + oy * g.ow, &ext[oy * g.wq], sizeof(float) * g.ow);
    }
  }
}

// params: x (N, C, H, W), weight (C, 1, kh, kw), geometry, out (N, C, OH, OW).
extern "C" int DepthwiseForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                void *, void *) {
  Geometry g;
  if (!check(nparam, 4, ndims, shapes, dtypes)) return 1;
  if (!make_geometry(static_cast<int32_t *>(params[2]), shapes[0], shapes[1], shapes[3], &g)) return 2;
  forward<kNone>(g, static_cast<float *>(params[0]), static_cast<float *>(params[1]), nullptr,
                 static_cast<float *>(params[3]));
  return 0;
}

// params: x (N, C, H, W), weight (C, 1, kh, kw), geometry, bias (C), out (N, C, OH, OW): act(conv + bias), the
// inference graph's depthwise conv with its folded BatchNorm and the activation after it in one pass. With `join`
// (stride 1, "same" padding) out is (N, 2C, H, W): concat(x, act(conv(x) + bias)) along channels, the inference
// graph's Ghost module join.
template <int A>
int forward_bias(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, bool join = false) {
  Geometry g;
  if (nparam != 5 || ndims[3] != 1 || !is_f32(dtypes[3])) return 1;
  int nd[4] = {ndims[0], ndims[1], ndims[2], ndims[4]};
  int64_t *sh[4] = {shapes[0], shapes[1], shapes[2], shapes[4]};
  const char *dt[4] = {dtypes[0], dtypes[1], dtypes[2], dtypes[4]};
  if (!check(4, 4, nd, sh, dt)) return 1;
  const int64_t *x = shapes[0], *y = shapes[4];
  if (join && (y[0] != x[0] || y[1] != 2 * x[1] || y[2] != x[2] || y[3] != x[3])) return 2;
  // what the conv alone must produce: the input's shape where it joins
  if (!make_geometry(static_cast<int32_t *>(params[2]), x, shapes[1], join ? x : y, &g)) return 2;
  if (shapes[3][0] != g.c) return 2;
  forward<A>(g, static_cast<float *>(params[0]), static_cast<float *>(params[1]), static_cast<float *>(params[3]),
             static_cast<float *>(params[4]), join);
  return 0;
}

extern "C" int DepthwiseForwardBias(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                    void *, void *) {
  return forward_bias<kNone>(nparam, params, ndims, shapes, dtypes);
}

extern "C" int DepthwiseForwardBiasRelu(int nparam, void **params, int *ndims, int64_t **shapes,
                                        const char **dtypes, void *, void *) {
  return forward_bias<kRelu>(nparam, params, ndims, shapes, dtypes);
}

extern "C" int DepthwiseForwardBiasRelu6(int nparam, void **params, int *ndims, int64_t **shapes,
                                         const char **dtypes, void *, void *) {
  return forward_bias<kRelu6>(nparam, params, ndims, shapes, dtypes);
}

// The Ghost module join (forward_bias with join): out (N, 2C, H, W) = concat(x, act(conv(x) + bias)).
extern "C" int DepthwiseJoinBias(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                 void *, void *) {
  return forward_bias<kNone>(nparam, params, ndims, shapes, dtypes, true);
}

extern "C" int DepthwiseJoinBiasRelu(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                     void *, void *) {
  return forward_bias<kRelu>(nparam, params, ndims, shapes, dtypes, true);
}

extern "C" int DepthwiseJoinBiasRelu6(int nparam, void **params, int *ndims, int64_t **shapes,
                                      const char **dtypes, void *, void *) {
  return forward_bias<kRelu6>(nparam, params, ndims, shapes, dtypes, true);
}

// params: dy (N, C, OH, OW), weight (C, 1, kh, kw), geometry, x (only its shape is read: the output's shape
// cannot be told from dy's under a stride), dx (N, C, H, W).
extern "C" int DepthwiseGradInput(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                  void *, void *) {
  Geometry g;
  if (!check(nparam, 5, ndims, shapes, dtypes)) return 1;
  for (int d = 0; d < 4; ++d) {
    if (shapes[3][d] != shapes[4][d]) return 2;
  }
  if (!make_geometry(static_cast<int32_t *>(params[2]), shapes[4], shapes[1], shapes[0], &g)) return 2;
  const float *dy = static_cast<float *>(params[0]);
  const float *k = static_cast<float *>(params[1]);
  float *dx = static_cast<float *>(params[4]);
  const InputGrad plan = input_grad_plan(g);
#pragma omp parallel num_threads(g.threads)
  {
    std::vector<float> buf(g.buffer()), ext(plan.front + g.hq * g.wq, 0.0f), weights(g.kh * g.kw);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < g.n * g.c; ++p) {
      grad_input_plane(g, plan, dy + p * g.oh * g.ow, k + (p % g.c) * g.kh * g.kw, weights.data(), ext.data(),
                       buf.data(), dx + p * g.h * g.w);
    }
  }
  return 0;
}

// params: dy (N, C, OH, OW), x (N, C, H, W), geometry, dweight (C, 1, kh, kw).
extern "C" int DepthwiseGradWeight(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                   void *, void *) {
  Geometry g;
  if (!check(nparam, 4, ndims, shapes, dtypes)) return 1;
  if (!make_geometry(static_cast<int32_t *>(params[2]), shapes[1], shapes[3], shapes[0], &g)) return 2;
  const float *dy = static_cast<float *>(params[0]);
  const float *x = static_cast<float *>(params[1]);
  float *dk = static_cast<float *>(params[3]);
  const std::vector<int64_t> taps = tap_offsets(g);
#pragma omp parallel num_threads(g.threads)
  {
    std::vector<float> buf(g.buffer(), 0.0f), ext(g.oh * g.wq, 0.0f);
    std::vector<double> sums(taps.size());
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < g.c; ++ch) {
      std::fill(sums.begin(), sums.end(), 0.0);
      for (int64_t b = 0; b < g.n; ++b) {
        int64_t p = b * g.c + ch;
        fill_phases(g, x + p * g.h * g.w, buf.data());
        widen(g, dy + p * g.oh * g.ow, ext.data());
        for (size_t t = 0; t < taps.size(); ++t) sums[t] += dot(ext.data(), buf.data() + taps[t], g.span);
      }
      for (size_t t = 0; t < taps.size(); ++t) dk[ch * taps.size() + t] = static_cast<float>(sums[t]);
    }
  }
  return 0;
}

// act(x + bias) per channel in one pass: a pointwise conv's BiasAdd (and the ReLU after it) after BatchNorm
// folding, which MindSpore runs as separate passes over the map. params: x (N, C, H, W), bias (C), threads (one
// int32), out (N, C, H, W).
template <int A>
int bias_act(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes) {
  if (nparam != 4 || ndims[0] != 4 || ndims[1] != 1 || ndims[2] != 1 || ndims[3] != 4) return 1;
  if (!is_f32(dtypes[0]) || !is_f32(dtypes[1]) || std::strcmp(dtypes[2], "int32") != 0 || !is_f32(dtypes[3])) {
    return 1;
  }
  if (shapes[1][0] != shapes[0][1] || shapes[2][0] != 1) return 2;
  for (int d = 0; d < 4; ++d) {
    if (shapes[3][d] != shapes[0][d]) return 2;
  }
  const int64_t c = shapes[0][1], planes = shapes[0][0] * c, size = shapes[0][2] * shapes[0][3];
  const float *x = static_cast<float *>(params[0]);
  const float *bias = static_cast<float *>(params[1]);
  const int threads = std::max(1, *static_cast<int32_t *>(params[2]));
  float *y = static_cast<float *>(params[3]);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t p = 0; p < planes; ++p) {
    const float *src = x + p * size;
    float *dst = y + p * size;
    const float b = bias[p % c];
    const __m256 bv = _mm256_set1_ps(b);
    int64_t i = 0;
    for (; i + 8 <= size; i += 8) {
      _mm256_storeu_ps(dst + i, activate<A>(_mm256_add_ps(_mm256_loadu_ps(src + i), bv)));
    }
    for (; i < size; ++i) dst[i] = activate<A>(src[i] + b);
  }
  return 0;
}

extern "C" int Bias(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *, void *) {
  return bias_act<kNone>(nparam, params, ndims, shapes, dtypes);
}

extern "C" int BiasRelu(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                        void *) {
  return bias_act<kRelu>(nparam, params, ndims, shapes, dtypes);
}

extern "C" int BiasRelu6(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                         void *) {
  return bias_act<kRelu6>(nparam, params, ndims, shapes, dtypes);
}

// x * gate with one gate value per (sample, channel): the squeeze-excite product, one pass over the map where
// MindSpore tiles the gate to the map first (expand_gate) and then multiplies. params: x (N, C, H, W), gate
// (N, C, 1, 1), threads (one int32), out (N, C, H, W).
extern "C" int ChannelScale(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                            void *) {
  if (nparam != 4 || ndims[0] != 4 || ndims[1] != 4 || ndims[2] != 1 || ndims[3] != 4) return 1;
  if (!is_f32(dtypes[0]) || !is_f32(dtypes[1]) || std::strcmp(dtypes[2], "int32") != 0 || !is_f32(dtypes[3])) {
    return 1;
  }
  if (shapes[1][0] != shapes[0][0] || shapes[1][1] != shapes[0][1] || shapes[1][2] != 1 || shapes[1][3] != 1) {
    return 2;
  }
  for (int d = 0; d < 4; ++d) {
    if (shapes[3][d] != shapes[0][d]) return 2;
  }
  const int64_t planes = shapes[0][0] * shapes[0][1], size = shapes[0][2] * shapes[0][3];
  const float *x = static_cast<float *>(params[0]);
  const float *gate = static_cast<float *>(params[1]);
  const int threads = std::max(1, *static_cast<int32_t *>(params[2]));
  float *y = static_cast<float *>(params[3]);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t p = 0; p < planes; ++p) {
    const float *src = x + p * size;
    float *dst = y + p * size;
    const __m256 gv = _mm256_set1_ps(gate[p]);
    int64_t i = 0;
    for (; i + 8 <= size; i += 8) _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_loadu_ps(src + i), gv));
    for (; i < size; ++i) dst[i] = src[i] * gate[p];
  }
  return 0;
}

// The squeeze-excite product's gradient for its gate: sum over the map of dout * x per (sample, channel), summed
// in double. params: dout (N, C, H, W), x (N, C, H, W), threads (one int32), out (N, C, 1, 1).
extern "C" int ChannelDot(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                          void *) {
  if (nparam != 4 || ndims[0] != 4 || ndims[1] != 4 || ndims[2] != 1 || ndims[3] != 4) return 1;
  if (!is_f32(dtypes[0]) || !is_f32(dtypes[1]) || std::strcmp(dtypes[2], "int32") != 0 || !is_f32(dtypes[3])) {
    return 1;
  }
  for (int d = 0; d < 4; ++d) {
    if (shapes[1][d] != shapes[0][d]) return 2;
  }
  if (shapes[3][0] != shapes[0][0] || shapes[3][1] != shapes[0][1] || shapes[3][2] != 1 || shapes[3][3] != 1) {
    return 2;
  }
  const int64_t planes = shapes[0][0] * shapes[0][1], size = shapes[0][2] * shapes[0][3];
  const float *dy = static_cast<float *>(params[0]);
  const float *x = static_cast<float *>(params[1]);
  const int threads = std::max(1, *static_cast<int32_t *>(params[2]));
  float *out = static_cast<float *>(params[3]);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t p = 0; p < planes; ++p) out[p] = static_cast<float>(dot(dy + p * size, x + p * size, size));
  return 0;
}

// The mean of each plane: global average pooling in one pass, where MindSpore's ReduceMean is several times slower
// than reading the map (docs/kernels.md). params: x (N, C, H, W), threads (one int32), out (N, C, 1, 1).
extern "C" int ChannelMean(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                           void *) {
  if (nparam != 3 || ndims[0] != 4 || ndims[1] != 1 || ndims[2] != 4) return 1;
  if (!is_f32(dtypes[0]) || std::strcmp(dtypes[1], "int32") != 0 || !is_f32(dtypes[2])) return 1;
  const int64_t *x = shapes[0], *y = shapes[2];
  if (shapes[1][0] != 1 || y[0] != x[0] || y[1] != x[1] || y[2] != 1 || y[3] != 1) return 2;
  const int64_t planes = x[0] * x[1], size = x[2] * x[3];
  if (size < 1) return 2;
  const float *src = static_cast<float *>(params[0]);
  const int threads = std::max(1, *static_cast<int32_t *>(params[1]));
  float *out = static_cast<float *>(params[2]);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t p = 0; p < planes; ++p) out[p] = static_cast<float>(plane_sum(src + p * size, size) / size);
  return 0;
}

// ChannelMean's gradient: each plane filled with its dout / (H * W). params: dout (N, C, 1, 1), threads (one
// int32), x (N, C, H, W: only its shape is read), out (N, C, H, W).
extern "C" int ChannelSpread(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                             void *) {
  if (nparam != 4 || ndims[0] != 4 || ndims[1] != 1 || ndims[2] != 4 || ndims[3] != 4) return 1;
  if (!is_f32(dtypes[0]) || std::strcmp(dtypes[1], "int32") != 0 || !is_f32(dtypes[3])) return 1;
  const int64_t *g = shapes[0], *y = shapes[3];
  if (shapes[1][0] != 1 || g[0] != y[0] || g[1] != y[1] || g[2] != 1 || g[3] != 1) return 2;
  for (int d = 0; d < 4; ++d) {
    if (shapes[2][d] != y[d]) return 2;
  }
  const int64_t planes = y[0] * y[1], size = y[2] * y[3];
  const float *dout = static_cast<float *>(params[0]);
  const int threads = std::max(1, *static_cast<int32_t *>(params[1]));
  float *dx = static_cast<float *>(params[3]);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t p = 0; p < planes; ++p) std::fill(dx + p * size, dx + (p + 1) * size, dout[p] / size);
  return 0;
}

namespace {

// Checks the inputs UpsampleScale and UpsampleScaleGrad share: params 0 and 1 float32 of 4 dims, 2-4 int32 of one
// (rows (H), cols (W), threads), the map (N, C, H, W) at `map` and the gate (N, C, h, w) at `gate`.
bool upsample_inputs(int *ndims, int64_t **shapes, const char **dtypes, int map, int gate) {
  if (ndims[0] != 4 || ndims[1] != 4 || ndims[2] != 1 || ndims[3] != 1 || ndims[4] != 1) return false;
  if (!is_f32(dtypes[0]) || !is_f32(dtypes[1]) || ndims[gate] != 4 || !is_f32(dtypes[gate])) return false;
  for (int i = 2; i < 5; ++i) {
    if (std::strcmp(dtypes[i], "int32") != 0) return false;
  }
  const int64_t *m = shapes[map], *g = shapes[gate];
  return g[0] == m[0] && g[1] == m[1] && shapes[2][0] == m[2] && shapes[3][0] == m[3] && shapes[4][0] == 1;
}

bool indices_inside(const int32_t *idx, int64_t count, int64_t limit) {
  for (int64_t i = 0; i < count; ++i) {
    if (idx[i] < 0 || idx[i] >= limit) return false;
  }
  return true;
}

}  // namespace

// x times a gate upsampled by nearest neighbour: y[n, c, i, j] = x[n, c, i, j] * gate[n, c, rows[i], cols[j]], one
// pass over the map without writing the upsampled gate out (GhostNetV2's DFC attention product, where MindSpore
// gathers the gate to full size and multiplies). params: x (N, C, H, W), gate (N, C, h, w), rows (H), cols (W),
// threads (one int32), out (N, C, H, W).
extern "C" int UpsampleScale(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes, void *,
                             void *) {
  if (nparam != 6 || !upsample_inputs(ndims, shapes, dtypes, 0, 1) || ndims[5] != 4 || !is_f32(dtypes[5])) return 1;
  for (int d = 0; d < 4; ++d) {
    if (shapes[5][d] != shapes[0][d]) return 2;
  }
  const int64_t planes = shapes[0][0] * shapes[0][1], H = shapes[0][2], W = shapes[0][3];
  const int64_t h = shapes[1][2], w = shapes[1][3];
  const int32_t *rows = static_cast<int32_t *>(params[2]), *cols = static_cast<int32_t *>(params[3]);
  if (!indices_inside(rows, H, h) || !indices_inside(cols, W, w)) return 3;
  const float *x = static_cast<float *>(params[0]);
  const float *gate = static_cast<float *>(params[1]);
  const int threads = std::max(1, *static_cast<int32_t *>(params[4]));
  float *y = static_cast<float *>(params[5]);
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> row(W);  // one gate row spread over the map's columns
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      int32_t spread = -1;
      for (int64_t i = 0; i < H; ++i) {
        if (rows[i] != spread) {
          spread = rows[i];
          const float *g = gate + (p * h + spread) * w;
          for (int64_t j = 0; j < W; ++j) row[j] = g[cols[j]];
        }
        const float *src = x + (p * H + i) * W;
        float *dst = y + (p * H + i) * W;
        for (int64_t j = 0; j < W; ++j) dst[j] = src[j] * row[j];
      }
    }
  }
  return 0;
}

// UpsampleScale's gradient for its gate: dgate[n, c, r, s] = the sum of dy * x over the map positions (i, j) with
// rows[i] == r and cols[j] == s, summed in double. params: dy (N, C, H, W), x (N, C, H, W), rows (H), cols (W),
// threads (one int32), the gate (N, C, h, w: only its shape is read), out (N, C, h, w).
extern "C" int UpsampleScaleGrad(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                 void *, void *) {
  if (nparam != 7 || !upsample_inputs(ndims, shapes, dtypes, 0, 5) || ndims[6] != 4 || !is_f32(dtypes[6])) return 1;
  for (int d = 0; d < 4; ++d) {
    if (shapes[1][d] != shapes[0][d] || shapes[6][d] != shapes[5][d]) return 2;
  }
  const int64_t planes = shapes[0][0] * shapes[0][1], H = shapes[0][2], W = shapes[0][3];
  const int64_t h = shapes[5][2], w = shapes[5][3];
  const int32_t *rows = static_cast<int32_t *>(params[2]), *cols = static_cast<int32_t *>(params[3]);
  if (!indices_inside(rows, H, h) || !indices_inside(cols, W, w)) return 3;
  const float *dy = static_cast<float *>(params[0]);
  const float *x = static_cast<float *>(params[1]);
  const int threads = std::max(1, *static_cast<int32_t *>(params[4]));
  float *dg = static_cast<float *>(params[6]);
#pragma omp parallel num_threads(threads)
  {
    std::vector<double> sums(h * w);
    std::vector<float> prod(W);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      std::fill(sums.begin(), sums.end(), 0.0);
      for (int64_t i = 0; i < H; ++i) {
        const float *a = dy + (p * H + i) * W, *b = x + (p * H + i) * W;
        for (int64_t j = 0; j < W; ++j) prod[j] = a[j] * b[j];
        double *acc = sums.data() + rows[i] * w;
        for (int64_t j = 0; j < W; ++j) acc[cols[j]] += prod[j];
      }
      for (int64_t q = 0; q < h * w; ++q) dg[p * h * w + q] = static_cast<float>(sums[q]);
    }
  }
  return 0;
}
