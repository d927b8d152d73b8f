// Depthwise 2-D convolution for MindSpore's CPU custom ops (func_type "aot"), float32, NCHW.
//
// Each function has MindSpore's AOT signature: params holds the inputs then the output; the last input is an int32
// "geometry" tensor {stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, threads}. Padding is symmetric per
// dimension. Every plane is first copied into a zero-padded buffer split into `stride_w` column phases, so that
// every inner loop runs over contiguous memory without bounds checks and vectorises (-O3 -mavx2 -mfma).
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
      for (int64_t col = t * g.sw + qc - g.pw; col < g.w; col += g.sw, ++t) dst[t] = src[col];
    }
  }
}

// The start in the phase buffer of kernel tap (i, j) for output (0, 0).
inline int64_t tap_offset(const Geometry &g, int64_t i, int64_t j) { return g.at(i * g.dh, j * g.dw); }

// ext (oh x wq, the output rows at the phase width) = sum over taps of weight * the phase under the tap.
void forward_plane(const Geometry &g, const float *buf, const float *k, float *ext) {
  std::memset(ext, 0, sizeof(float) * g.oh * g.wq);
  for (int64_t i = 0; i < g.kh; ++i) {
    for (int64_t j = 0; j < g.kw; ++j) {
      const float *__restrict src = buf + tap_offset(g, i, j);
      float *__restrict out = ext;
      const float wv = k[i * g.kw + j];
#pragma omp simd
      for (int64_t q = 0; q < g.span; ++q) out[q] += wv * src[q];
    }
  }
}

// dy (oh x ow) -> ext (oh x wq) with zeros past ow.
void widen(const Geometry &g, const float *dy, float *ext) {
  std::memset(ext, 0, sizeof(float) * g.oh * g.wq);
  for (int64_t oy = 0; oy < g.oh; ++oy) std::memcpy(ext + oy * g.wq, dy + oy * g.ow, sizeof(float) * g.ow);
}

// The padded plane's gradient in the phase buffer (scattered tap by tap), then its interior into dx.
void grad_input_plane(const Geometry &g, const float *ext, const float *k, float *buf, float *dx) {
  std::memset(buf, 0, sizeof(float) * g.buffer());
  for (int64_t i = 0; i < g.kh; ++i) {
    for (int64_t j = 0; j < g.kw; ++j) {
      float *__restrict dst = buf + tap_offset(g, i, j);
      const float *__restrict src = ext;
      const float wv = k[i * g.kw + j];
#pragma omp simd
      for (int64_t q = 0; q < g.span; ++q) dst[q] += wv * src[q];
    }
  }
  for (int64_t r = 0; r < g.h; ++r) {
    const int64_t pr = r + g.ph;
    float *dst = dx + r * g.w;
    for (int64_t qc = 0; qc < g.sw; ++qc) {
      const float *src = buf + ((pr % g.sh) * g.sw + qc) * g.hq * g.wq + (pr / g.sh) * g.wq;
      int64_t t = (g.pw - qc + g.sw - 1) / g.sw;
      for (int64_t col = t * g.sw + qc - g.pw; col < g.w; col += g.sw, ++t) dst[col] = src[t];
    }
  }
}

// Adds, for every tap, dy * (input under the tap) lane by lane into acc (kh * kw rows of span lanes); ext is dy at
// the phase width with zeros past ow, so the dropped columns add nothing.
void grad_weight_plane(const Geometry &g, const float *ext, const float *buf, float *acc) {
  for (int64_t i = 0; i < g.kh; ++i) {
    for (int64_t j = 0; j < g.kw; ++j) {
      const float *__restrict src = buf + tap_offset(g, i, j);
      const float *__restrict d = ext;
      float *__restrict lane = acc + (i * g.kw + j) * g.span;
#pragma omp simd
      for (int64_t q = 0; q < g.span; ++q) lane[q] += d[q] * src[q];
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

// params: x (N, C, H, W), weight (C, 1, kh, kw), geometry, out (N, C, OH, OW).
extern "C" int DepthwiseForward(int nparam, void **params, int *ndims, int64_t **shapes, const char **dtypes,
                                void *, void *) {
  Geometry g;
  if (!check(nparam, 4, ndims, shapes, dtypes)) return 1;
  if (!make_geometry(static_cast<int32_t *>(params[2]), shapes[0], shapes[1], shapes[3], &g)) return 2;
  const float *x = static_cast<float *>(params[0]);
  const float *k = static_cast<float *>(params[1]);
  float *y = static_cast<float *>(params[3]);
#pragma omp parallel num_threads(g.threads)
  {
    std::vector<float> buf(g.buffer(), 0.0f), ext(g.oh * g.wq);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < g.n * g.c; ++p) {
      fill_phases(g, x + p * g.h * g.w, buf.data());
      forward_plane(g, buf.data(), k + (p % g.c) * g.kh * g.kw, ext.data());
      float *out = y + p * g.oh * g.ow;
      for (int64_t oy = 0; oy < g.oh; ++oy) std::memcpy(out + oy * g.ow, &ext[oy * g.wq], sizeof(float) * g.ow);
    }
  }
  return 0;
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
#pragma omp parallel num_threads(g.threads)
  {
    std::vector<float> buf(g.buffer()), ext(g.oh * g.wq);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < g.n * g.c; ++p) {
      widen(g, dy + p * g.oh * g.ow, ext.data());
      grad_input_plane(g, ext.data(), k + (p % g.c) * g.kh * g.kw, buf.data(), dx + p * g.h * g.w);
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
  const int64_t taps = g.kh * g.kw;
#pragma omp parallel num_threads(g.threads)
  {
    std::vector<float> buf(g.buffer(), 0.0f), ext(g.oh * g.wq), acc(taps * g.span);
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < g.c; ++ch) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t b = 0; b < g.n; ++b) {
        int64_t p = b * g.c + ch;
        fill_phases(g, x + p * g.h * g.w, buf.data());
        widen(g, dy + p * g.oh * g.ow, ext.data());
        grad_weight_plane(g, ext.data(), buf.data(), acc.data());
      }
      for (int64_t t = 0; t < taps; ++t) {
        double s = 0.0;
        for (int64_t q = 0; q < g.span; ++q) s += acc[t * g.span + q];
        dk[ch * taps + t] = static_cast<float>(s);
      }
    }
  }
  return 0;
}
