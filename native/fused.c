/* Fused kernels of the Transformer's hot operations (forward and backward),
 * working on float32 arrays in place. Each states the math it computes; the
 * TypeScript side (lib/backend/kernels/fused_kernels.ts) checks shapes and
 * lib/backend/fused.ts documents the same math as plain tf ops. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "llmlab_native.h"

/* exp(x) for float, branch-free so loops vectorise: Cephes-style range
 * reduction x = n·ln2 + r and a degree-6 polynomial (rel. error ~1e-7). */
static inline __attribute__((always_inline)) float fast_expf(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float fn = __builtin_rintf(x * 1.44269504088896341f);
  float r = x - fn * 0.693359375f;
  r = r + fn * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)fn + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

/* tanh(u) = 1 - 2 / (exp(2u) + 1): exact limits ±1, abs. error ~1e-7. */
static inline __attribute__((always_inline)) float fast_tanhf(float u) {
  return 1.0f - 2.0f / (fast_expf(2.0f * u) + 1.0f);
}

/* Reductions written with 16 partial results, so the compiler vectorises
 * them without reassociating float math on its own (no -ffast-math). */
#define LANES 16
static inline __attribute__((always_inline)) float vsum(const float *x, size_t n) {
  float acc[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int u = 0; u < LANES; u++) acc[u] += x[j + u];
  float s = 0.0f;
  for (int u = 0; u < LANES; u++) s += acc[u];
  for (; j < n; j++) s += x[j];
  return s;
}
static inline __attribute__((always_inline)) float vdot(const float *a, const float *b, size_t n) {
  float acc[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int u = 0; u < LANES; u++) acc[u] += a[j + u] * b[j + u];
  float s = 0.0f;
  for (int u = 0; u < LANES; u++) s += acc[u];
  for (; j < n; j++) s += a[j] * b[j];
  return s;
}
/* Sum of (x - c)². */
static inline __attribute__((always_inline)) float vsqdev(const float *x, float c, size_t n) {
  float acc[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int u = 0; u < LANES; u++) {
      float d = x[j + u] - c;
      acc[u] += d * d;
    }
  float s = 0.0f;
  for (int u = 0; u < LANES; u++) s += acc[u];
  for (; j < n; j++) s += (x[j] - c) * (x[j] - c);
  return s;
}
static inline __attribute__((always_inline)) float vmax(const float *x, size_t n) {
  float acc[LANES];
  for (int u = 0; u < LANES; u++) acc[u] = -INFINITY;
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int u = 0; u < LANES; u++) acc[u] = x[j + u] > acc[u] ? x[j + u] : acc[u];
  float m = -INFINITY;
  for (int u = 0; u < LANES; u++) m = acc[u] > m ? acc[u] : m;
  for (; j < n; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/* Σ exp(x - c) */
static inline __attribute__((always_inline)) float vsumexp(const float *x, float c, size_t n) {
  float acc[LANES] = {0};
  size_t j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int u = 0; u < LANES; u++) acc[u] += fast_expf(x[j + u] - c);
  float s = 0.0f;
  for (int u = 0; u < LANES; u++) s += acc[u];
  for (; j < n; j++) s += fast_expf(x[j] - c);
  return s;
}

#define GELU_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_A 0.044715f

/* y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
LLM_CLONES
void llm_gelu_fwd(size_t n, const float *restrict x, float *restrict y) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float t = fast_tanhf(GELU_C * (v + GELU_A * v * v * v));
    y[i] = 0.5f * v * (1.0f + t);
  }
}

/* dx = dy · d/dx gelu(x) */
LLM_CLONES
void llm_gelu_bwd(size_t n, const float *restrict x, const float *restrict dy, float *restrict dx) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float t = fast_tanhf(GELU_C * (v + GELU_A * v * v * v));
    float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
    dx[i] = dy[i] * d;
  }
}

/* Per row of d: mean, rstd = 1/√(var + eps) (biased var), y = (x-mean)·rstd·g + b.
 * b may be NULL. mean and rstd (one per row) are kept for the backward pass. */
LLM_CLONES
void llm_layernorm_fwd(size_t rows, size_t d, float eps, const float *restrict x, const float *restrict g,
                       const float *restrict b, float *restrict y, float *restrict mean, float *restrict rstd) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * d;
    float *yr = y + r * d;
    float mu = vsum(xr, d) / (float)d;
    float rs = 1.0f / sqrtf(vsqdev(xr, mu, d) / (float)d + eps);
    if (b)
      for (size_t j = 0; j < d; j++) yr[j] = (xr[j] - mu) * rs * g[j] + b[j];
    else
      for (size_t j = 0; j < d; j++) yr[j] = (xr[j] - mu) * rs * g[j];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

/* Backward of llm_layernorm_fwd: with xh = (x-mean)·rstd and gy = dy·g,
 * dx = rstd·(gy - mean(gy) - xh·mean(gy·xh)); dg = Σ_rows dy·xh; db = Σ_rows dy.
 * db may be NULL. mean may be NULL for RMS norm (then xh = x·rstd and the
 * mean(gy) term is absent). */
LLM_CLONES
void llm_norm_bwd(size_t rows, size_t d, const float *restrict x, const float *restrict g,
                  const float *restrict mean, const float *restrict rstd, const float *restrict dy,
                  float *restrict dx, float *restrict dg, float *restrict db) {
  memset(dg, 0, sizeof(float) * d);
  if (db) memset(db, 0, sizeof(float) * d);
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * d, *dyr = dy + r * d;
    float *dxr = dx + r * d;
    float mu = mean ? mean[r] : 0.0f, rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    {
      float a1[LANES] = {0}, a2[LANES] = {0};
      size_t j = 0;
      for (; j + LANES <= d; j += LANES)
        for (int u = 0; u < LANES; u++) {
          float xh = (xr[j + u] - mu) * rs;
          float gy = dyr[j + u] * g[j + u];
          a1[u] += gy;
          a2[u] += gy * xh;
        }
      for (int u = 0; u < LANES; u++) {
        sg += a1[u];
        sgx += a2[u];
      }
      for (; j < d; j++) {
        float xh = (xr[j] - mu) * rs;
        float gy = dyr[j] * g[j];
        sg += gy;
        sgx += gy * xh;
      }
    }
    for (size_t j = 0; j < d; j++) dg[j] += dyr[j] * (xr[j] - mu) * rs;
    if (db)
      for (size_t j = 0; j < d; j++) db[j] += dyr[j];
    float a = mean ? sg / (float)d : 0.0f, c = sgx / (float)d;
    for (size_t j = 0; j < d; j++) {
      float xh = (xr[j] - mu) * rs;
      dxr[j] = rs * (dyr[j] * g[j] - a - xh * c);
    }
  }
}

/* Per row: rstd = 1/√(mean(x²) + eps), y = x·rstd·g. */
LLM_CLONES
void llm_rmsnorm_fwd(size_t rows, size_t d, float eps, const float *restrict x, const float *restrict g,
                     float *restrict y, float *restrict rstd) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * d;
    float *yr = y + r * d;
    float rs = 1.0f / sqrtf(vdot(xr, xr, d) / (float)d + eps);
    for (size_t j = 0; j < d; j++) yr[j] = xr[j] * rs * g[j];
    rstd[r] = rs;
  }
}

/* Causal softmax of scaled scores, row by row, in place: keys after query i's
 * position (i + tk - tq) get probability 0. With lse, also keeps each row's
 * log Σ exp(scaled score), so the backward pass can rebuild the row. */
LLM_CLONES
static void causal_softmax_rows(size_t tq, size_t tk, float scale, float *restrict s, float *restrict lse) {
  size_t offset = tk - tq;
  for (size_t i = 0; i < tq; i++) {
    float *row = s + i * tk;
    size_t lim = i + offset + 1; /* keys [0, lim) are visible */
    for (size_t j = 0; j < lim; j++) row[j] *= scale;
    float mx = vmax(row, lim);
    for (size_t j = 0; j < lim; j++) row[j] = fast_expf(row[j] - mx);
    float sum = vsum(row, lim);
    float inv = 1.0f / sum;
    for (size_t j = 0; j < lim; j++) row[j] *= inv;
    for (size_t j = lim; j < tk; j++) row[j] = 0.0f;
    if (lse) lse[i] = mx + logf(sum);
  }
}

/* Rebuild probabilities from raw scores and the saved lse: p = exp(s·scale - lse). */
LLM_CLONES
static void causal_probs_from_lse(size_t tq, size_t tk, float scale, float *restrict s, const float *restrict lse) {
  size_t offset = tk - tq;
  for (size_t i = 0; i < tq; i++) {
    float *row = s + i * tk;
    size_t lim = i + offset + 1;
    float l = lse[i];
    for (size_t j = 0; j < lim; j++) row[j] = fast_expf(row[j] * scale - l);
    for (size_t j = lim; j < tk; j++) row[j] = 0.0f;
  }
}

/* For each of `heads` (q [tq,hd], k,v [tk,hd]): P = softmax(q·kᵀ·scale + causal mask),
 * o = P·v. P [heads, tq, tk] (the attention weights) is written when p is not
 * NULL; lse [heads, tq] when lse is not NULL (at least one of them is given). */
void llm_attention_fwd(size_t heads, size_t tq, size_t tk, size_t hd, float scale,
                       const float *q, const float *k, const float *v, float *o, float *p, float *lse) {
  float *scratch = p ? NULL : malloc(sizeof(float) * tq * tk);
  if (!p && !scratch) abort();
  for (size_t h = 0; h < heads; h++) {
    const float *qh = q + h * tq * hd, *kh = k + h * tk * hd, *vh = v + h * tk * hd;
    float *ph = p ? p + h * tq * tk : scratch;
    llm_sgemm(0, 1, (int)tq, (int)tk, (int)hd, qh, (int)hd, kh, (int)hd, 0.0f, ph, (int)tk);
    causal_softmax_rows(tq, tk, scale, ph, lse ? lse + h * tq : NULL);
    llm_sgemm(0, 0, (int)tq, (int)hd, (int)tk, ph, (int)tk, vh, (int)hd, 0.0f, o + h * tq * hd, (int)hd);
  }
  free(scratch);
}

/* dS = P ⊙ (dP - rowsum(P ⊙ dP)) · scale, in place over dP. */
LLM_CLONES
static void softmax_bwd_rows(size_t rows, size_t tk, float scale, const float *restrict p, float *restrict dp) {
  for (size_t i = 0; i < rows; i++) {
    const float *pr = p + i * tk;
    float *dr = dp + i * tk;
    float dot = vdot(pr, dr, tk);
    for (size_t j = 0; j < tk; j++) dr[j] = pr[j] * (dr[j] - dot) * scale;
  }
}

/* Backward of llm_attention_fwd given dO (and optionally dP_extra, the
 * gradient reaching the returned weights): dP = dO·vᵀ (+ dP_extra),
 * dv = Pᵀ·dO, dS = softmax backward, dq = dS·k, dk = dSᵀ·q. P comes from p,
 * or, when p is NULL, is rebuilt from q, k and the saved lse. */
void llm_attention_bwd(size_t heads, size_t tq, size_t tk, size_t hd, float scale,
                       const float *q, const float *k, const float *v, const float *p, const float *lse,
                       const float *dout, const float *dp_extra, float *dq, float *dk, float *dv) {
  float *dp = malloc(sizeof(float) * tq * tk);
  float *rebuilt = p ? NULL : malloc(sizeof(float) * tq * tk);
  if (!dp || (!p && !rebuilt)) abort();
  for (size_t h = 0; h < heads; h++) {
    const float *qh = q + h * tq * hd, *kh = k + h * tk * hd, *vh = v + h * tk * hd;
    const float *doh = dout + h * tq * hd;
    const float *ph;
    if (p) {
      ph = p + h * tq * tk;
    } else {
      llm_sgemm(0, 1, (int)tq, (int)tk, (int)hd, qh, (int)hd, kh, (int)hd, 0.0f, rebuilt, (int)tk);
      causal_probs_from_lse(tq, tk, scale, rebuilt, lse + h * tq);
      ph = rebuilt;
    }
    if (dp_extra) memcpy(dp, dp_extra + h * tq * tk, sizeof(float) * tq * tk);
    llm_sgemm(0, 1, (int)tq, (int)tk, (int)hd, doh, (int)hd, vh, (int)hd, dp_extra ? 1.0f : 0.0f, dp, (int)tk);
    llm_sgemm(1, 0, (int)tk, (int)hd, (int)tq, ph, (int)tk, doh, (int)hd, 0.0f, dv + h * tk * hd, (int)hd);
    softmax_bwd_rows(tq, tk, scale, ph, dp);
    llm_sgemm(0, 0, (int)tq, (int)hd, (int)tk, dp, (int)tk, kh, (int)hd, 0.0f, dq + h * tq * hd, (int)hd);
    llm_sgemm(1, 0, (int)tk, (int)hd, (int)tq, dp, (int)tk, qh, (int)hd, 0.0f, dk + h * tk * hd, (int)hd);
  }
  free(rebuilt);
  free(dp);
}

/* Causal self-attention straight from a fused projection, without splitting
 * or transposing: qkv [B, T, 3·d] holds q | k | v along the last axis, head h
 * being columns [h·hd, (h+1)·hd) of each; the output o [B, T, d] has the heads
 * side by side the same way. lse [B, H, T] is kept for the backward pass. */
void llm_attention_qkv_fwd(size_t batch, size_t t, size_t heads, size_t hd, float scale,
                           const float *qkv, float *o, float *lse) {
  size_t d = heads * hd, row = 3 * d;
  float *p = malloc(sizeof(float) * t * t);
  if (!p) abort();
  for (size_t b = 0; b < batch; b++) {
    const float *base = qkv + b * t * row;
    for (size_t h = 0; h < heads; h++) {
      const float *q = base + h * hd, *k = base + d + h * hd, *v = base + 2 * d + h * hd;
      llm_sgemm(0, 1, (int)t, (int)t, (int)hd, q, (int)row, k, (int)row, 0.0f, p, (int)t);
      causal_softmax_rows(t, t, scale, p, lse + (b * heads + h) * t);
      llm_sgemm(0, 0, (int)t, (int)hd, (int)t, p, (int)t, v, (int)row, 0.0f, o + b * t * d + h * hd, (int)d);
    }
  }
  free(p);
}

/* Backward of llm_attention_qkv_fwd: dqkv [B, T, 3·d] from dout [B, T, d]
 * (every element of dqkv is written). */
void llm_attention_qkv_bwd(size_t batch, size_t t, size_t heads, size_t hd, float scale,
                           const float *qkv, const float *lse, const float *dout, float *dqkv) {
  size_t d = heads * hd, row = 3 * d;
  float *p = malloc(sizeof(float) * t * t), *dp = malloc(sizeof(float) * t * t);
  if (!p || !dp) abort();
  for (size_t b = 0; b < batch; b++) {
    const float *base = qkv + b * t * row;
    float *dbase = dqkv + b * t * row;
    for (size_t h = 0; h < heads; h++) {
      const float *q = base + h * hd, *k = base + d + h * hd, *v = base + 2 * d + h * hd;
      const float *doh = dout + b * t * d + h * hd;
      llm_sgemm(0, 1, (int)t, (int)t, (int)hd, q, (int)row, k, (int)row, 0.0f, p, (int)t);
      causal_probs_from_lse(t, t, scale, p, lse + (b * heads + h) * t);
      llm_sgemm(0, 1, (int)t, (int)t, (int)hd, doh, (int)d, v, (int)row, 0.0f, dp, (int)t);
      llm_sgemm(1, 0, (int)t, (int)hd, (int)t, p, (int)t, doh, (int)d, 0.0f, dbase + 2 * d + h * hd, (int)row);
      softmax_bwd_rows(t, t, scale, p, dp);
      llm_sgemm(0, 0, (int)t, (int)hd, (int)t, dp, (int)t, k, (int)row, 0.0f, dbase + h * hd, (int)row);
      llm_sgemm(1, 0, (int)t, (int)hd, (int)t, dp, (int)t, q, (int)row, 0.0f, dbase + d + h * hd, (int)row);
    }
  }
  free(dp);
  free(p);
}

/* y = x·w + b for x [n, in], w [in, out], b [out]: y starts as b in every
 * row and the product accumulates onto it (no separate pass for the bias). */
void llm_linear_fwd(size_t n, size_t in, size_t out, const float *x, const float *w, const float *b, float *y) {
  for (size_t r = 0; r < n; r++) memcpy(y + r * out, b, sizeof(float) * out);
  llm_sgemm(0, 0, (int)n, (int)out, (int)in, x, (int)in, w, (int)out, 1.0f, y, (int)out);
}

/* Mean cross-entropy over rows whose target is not `ignore`:
 * lse_i = log Σ_j exp(x_ij); loss = Σ_i keep_i·(lse_i - x_i[t_i]) / max(1, Σ keep)
 * (a target outside [0, v) other than `ignore` picks 0, as tf.oneHot does).
 * Returns the loss; lse (one per row) is kept for the backward pass. */
LLM_CLONES
float llm_xent_fwd(size_t n, size_t v, int32_t ignore, const float *x, const int32_t *t, float *lse) {
  double total = 0.0;
  size_t count = 0;
  for (size_t i = 0; i < n; i++) {
    const float *row = x + i * v;
    float mx = vmax(row, v);
    lse[i] = mx + logf(vsumexp(row, mx, v));
    if (t[i] == ignore) continue;
    float picked = t[i] >= 0 && (size_t)t[i] < v ? row[t[i]] : 0.0f;
    total += (double)(lse[i] - picked);
    count++;
  }
  return (float)(total / (double)(count ? count : 1));
}

/* dx_ij = dloss · keep_i / max(1, Σ keep) · (exp(x_ij - lse_i) - [j == t_i]). */
LLM_CLONES
void llm_xent_bwd(size_t n, size_t v, int32_t ignore, float dloss, const float *restrict x, const int32_t *restrict t,
                  const float *restrict lse, float *restrict dx) {
  size_t count = 0;
  for (size_t i = 0; i < n; i++) count += t[i] != ignore;
  float w = dloss / (float)(count ? count : 1);
  for (size_t i = 0; i < n; i++) {
    float *dr = dx + i * v;
    if (t[i] == ignore) {
      memset(dr, 0, sizeof(float) * v);
      continue;
    }
    const float *row = x + i * v;
    float l = lse[i];
    for (size_t j = 0; j < v; j++) dr[j] = w * fast_expf(row[j] - l);
    if (t[i] >= 0 && (size_t)t[i] < v) dr[t[i]] -= w;
  }
}

/* One AdamW step (torch.optim.AdamW), new values into p2, m2, v2:
 * m2 = b1·m + (1-b1)·g; v2 = b2·v + (1-b2)·g²;
 * p2 = p·(1 - lr·wd) - lr·(m2/bc1) / (√(v2/bc2) + eps). */
LLM_CLONES
void llm_adamw(size_t n, float lr, float b1, float b2, float eps, float wd, float bc1, float bc2,
               const float *restrict p, const float *restrict g, const float *restrict m, const float *restrict v,
               float *restrict p2, float *restrict m2, float *restrict v2) {
  float decay = 1.0f - lr * wd;
  float ib1 = 1.0f / bc1, ib2 = 1.0f / bc2;
  for (size_t i = 0; i < n; i++) {
    float gi = g[i];
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m2[i] = mi;
    v2[i] = vi;
    p2[i] = p[i] * decay - lr * (mi * ib1) / (sqrtf(vi * ib2) + eps);
  }
}

/* out[j] = Σ_r x[r, j] for x [rows, cols] (a bias gradient). */
LLM_CLONES
void llm_sum_rows(size_t rows, size_t cols, const float *restrict x, float *restrict out) {
  memset(out, 0, sizeof(float) * cols);
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * cols;
    for (size_t j = 0; j < cols; j++) out[j] += xr[j];
  }
}

/* out = a + b elementwise (n each), or with b repeated over rows: out[r, j] = a[r, j] + b[j]. */
LLM_CLONES
void llm_add(size_t rows, size_t cols, const float *restrict a, const float *restrict b, int b_is_row, float *restrict out) {
  if (!b_is_row) {
    size_t n = rows * cols;
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
    return;
  }
  for (size_t r = 0; r < rows; r++) {
    const float *ar = a + r * cols;
    float *o = out + r * cols;
    for (size_t j = 0; j < cols; j++) o[j] = ar[j] + b[j];
  }
}

/* out = x transposed by perm (4-byte elements, rank <= 8): out dims are
 * shape[perm[i]]; runs along the last output axis are copied with memcpy
 * when that axis is also the input's last. */
void llm_permute(int rank, const int *shape, const int *perm, const uint32_t *x, uint32_t *out) {
  size_t in_stride[8], out_shape[8], src_stride[8];
  size_t acc = 1;
  for (int i = rank - 1; i >= 0; i--) {
    in_stride[i] = acc;
    acc *= (size_t)shape[i];
  }
  if (acc == 0) return;
  for (int i = 0; i < rank; i++) {
    out_shape[i] = (size_t)shape[perm[i]];
    src_stride[i] = in_stride[perm[i]];
  }
  size_t last = out_shape[rank - 1], step = src_stride[rank - 1];
  size_t idx[8] = {0};
  size_t src = 0;
  for (;;) {
    if (step == 1) {
      memcpy(out, x + src, sizeof(uint32_t) * last);
    } else {
      for (size_t j = 0; j < last; j++) out[j] = x[src + j * step];
    }
    out += last;
    int d = rank - 2;
    while (d >= 0) {
      idx[d]++;
      src += src_stride[d];
      if (idx[d] < out_shape[d]) break;
      src -= src_stride[d] * out_shape[d];
      idx[d] = 0;
      d--;
    }
    if (d < 0) break;
  }
}

/* count runs of len 4-byte elements: dst[i·ds + j] = src[i·ss + j]. */
void llm_copy_runs(size_t count, size_t len, const uint32_t *src, size_t ss, uint32_t *dst, size_t ds) {
  for (size_t i = 0; i < count; i++) memcpy(dst + i * ds, src + i * ss, sizeof(uint32_t) * len);
}

/* Row gather: dst[i, :] = src[idx[i], :] for rows of len 4-byte elements. */
void llm_gather_rows(size_t n, size_t len, const int32_t *idx, const uint32_t *src, uint32_t *dst) {
  for (size_t i = 0; i < n; i++) memcpy(dst + i * len, src + (size_t)idx[i] * len, sizeof(uint32_t) * len);
}
