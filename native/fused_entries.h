/* Node-API wrappers of the fused kernels (fused.c); included by addon.c.
 * Arguments: the heap ArrayBuffer, sizes, then byte offsets of tensors in
 * it (-1 for an absent optional tensor), exactly as listed per wrapper. */

/* Like floats(), but offset -1 means "absent" (NULL). */
static float *opt_floats(Args *A, size_t i, size_t count) {
  if (A->failed) return NULL;
  if (num(A, i) == -1) return NULL;
  return floats(A, i, count);
}

#define BEGIN(nargs)                              \
  Args A;                                         \
  if (!get_args(env, info, &A, nargs)) return NULL; \
  heap_arg(&A, 0);

/* geluFwd(heap, n, x, y) */
static napi_value gelu_fwd(napi_env env, napi_callback_info info) {
  BEGIN(4)
  size_t n = integer(&A, 1);
  float *x = floats(&A, 2, n), *y = floats(&A, 3, n);
  if (A.failed) return NULL;
  llm_gelu_fwd(n, x, y);
  return NULL;
}

/* geluBwd(heap, n, x, dy, dx) */
static napi_value gelu_bwd(napi_env env, napi_callback_info info) {
  BEGIN(5)
  size_t n = integer(&A, 1);
  float *x = floats(&A, 2, n), *dy = floats(&A, 3, n), *dx = floats(&A, 4, n);
  if (A.failed) return NULL;
  llm_gelu_bwd(n, x, dy, dx);
  return NULL;
}

/* layerNormFwd(heap, rows, d, eps, x, g, b|-1, y, mean, rstd) */
static napi_value layernorm_fwd(napi_env env, napi_callback_info info) {
  BEGIN(10)
  size_t rows = integer(&A, 1), d = integer(&A, 2);
  float eps = (float)num(&A, 3);
  float *x = floats(&A, 4, rows * d), *g = floats(&A, 5, d), *b = opt_floats(&A, 6, d);
  float *y = floats(&A, 7, rows * d), *mean = floats(&A, 8, rows), *rstd = floats(&A, 9, rows);
  if (A.failed) return NULL;
  llm_layernorm_fwd(rows, d, eps, x, g, b, y, mean, rstd);
  return NULL;
}

/* rmsNormFwd(heap, rows, d, eps, x, g, y, rstd) */
static napi_value rmsnorm_fwd(napi_env env, napi_callback_info info) {
  BEGIN(8)
  size_t rows = integer(&A, 1), d = integer(&A, 2);
  float eps = (float)num(&A, 3);
  float *x = floats(&A, 4, rows * d), *g = floats(&A, 5, d), *y = floats(&A, 6, rows * d), *rstd = floats(&A, 7, rows);
  if (A.failed) return NULL;
  llm_rmsnorm_fwd(rows, d, eps, x, g, y, rstd);
  return NULL;
}

/* normBwd(heap, rows, d, x, g, mean|-1, rstd, dy, dx, dg, db|-1) */
static napi_value norm_bwd(napi_env env, napi_callback_info info) {
  BEGIN(11)
  size_t rows = integer(&A, 1), d = integer(&A, 2);
  float *x = floats(&A, 3, rows * d), *g = floats(&A, 4, d), *mean = opt_floats(&A, 5, rows);
  float *rstd = floats(&A, 6, rows), *dy = floats(&A, 7, rows * d), *dx = floats(&A, 8, rows * d);
  float *dg = floats(&A, 9, d), *db = opt_floats(&A, 10, d);
  if (A.failed) return NULL;
  llm_norm_bwd(rows, d, x, g, mean, rstd, dy, dx, dg, db);
  return NULL;
}

/* attentionFwd(heap, heads, tq, tk, hd, scale, q, k, v, o, p|-1, lse|-1): p and/or lse */
static napi_value attention_fwd(napi_env env, napi_callback_info info) {
  BEGIN(12)
  size_t heads = integer(&A, 1), tq = integer(&A, 2), tk = integer(&A, 3), hd = integer(&A, 4);
  float scale = (float)num(&A, 5);
  if (!A.failed && tk < tq) fail(&A, "attention: fewer keys than queries");
  float *q = floats(&A, 6, heads * tq * hd), *k = floats(&A, 7, heads * tk * hd), *v = floats(&A, 8, heads * tk * hd);
  float *o = floats(&A, 9, heads * tq * hd), *p = opt_floats(&A, 10, heads * tq * tk), *lse = opt_floats(&A, 11, heads * tq);
  if (!A.failed && !p && !lse) fail(&A, "attention: needs p or lse");
  if (A.failed) return NULL;
  llm_attention_fwd(heads, tq, tk, hd, scale, q, k, v, o, p, lse);
  return NULL;
}

/* attentionBwd(heap, heads, tq, tk, hd, scale, q, k, v, p|-1, lse|-1, dout, dpExtra|-1, dq, dk, dv) */
static napi_value attention_bwd(napi_env env, napi_callback_info info) {
  BEGIN(16)
  size_t heads = integer(&A, 1), tq = integer(&A, 2), tk = integer(&A, 3), hd = integer(&A, 4);
  float scale = (float)num(&A, 5);
  if (!A.failed && tk < tq) fail(&A, "attention: fewer keys than queries");
  float *q = floats(&A, 6, heads * tq * hd), *k = floats(&A, 7, heads * tk * hd), *v = floats(&A, 8, heads * tk * hd);
  float *p = opt_floats(&A, 9, heads * tq * tk), *lse = opt_floats(&A, 10, heads * tq);
  float *dout = floats(&A, 11, heads * tq * hd), *dpx = opt_floats(&A, 12, heads * tq * tk);
  float *dq = floats(&A, 13, heads * tq * hd), *dk = floats(&A, 14, heads * tk * hd), *dv = floats(&A, 15, heads * tk * hd);
  if (!A.failed && !p && !lse) fail(&A, "attention: needs p or lse");
  if (A.failed) return NULL;
  llm_attention_bwd(heads, tq, tk, hd, scale, q, k, v, p, lse, dout, dpx, dq, dk, dv);
  return NULL;
}

/* attentionQkvFwd(heap, batch, t, heads, hd, scale, qkv, o, lse) */
static napi_value attention_qkv_fwd(napi_env env, napi_callback_info info) {
  BEGIN(9)
  size_t b = integer(&A, 1), t = integer(&A, 2), h = integer(&A, 3), hd = integer(&A, 4);
  float scale = (float)num(&A, 5);
  float *qkv = floats(&A, 6, b * t * 3 * h * hd), *o = floats(&A, 7, b * t * h * hd), *lse = floats(&A, 8, b * h * t);
  if (A.failed) return NULL;
  llm_attention_qkv_fwd(b, t, h, hd, scale, qkv, o, lse);
  return NULL;
}

/* attentionQkvBwd(heap, batch, t, heads, hd, scale, qkv, lse, dout, dqkv) */
static napi_value attention_qkv_bwd(napi_env env, napi_callback_info info) {
  BEGIN(10)
  size_t b = integer(&A, 1), t = integer(&A, 2), h = integer(&A, 3), hd = integer(&A, 4);
  float scale = (float)num(&A, 5);
  float *qkv = floats(&A, 6, b * t * 3 * h * hd), *lse = floats(&A, 7, b * h * t);
  float *dout = floats(&A, 8, b * t * h * hd), *dqkv = floats(&A, 9, b * t * 3 * h * hd);
  if (A.failed) return NULL;
  llm_attention_qkv_bwd(b, t, h, hd, scale, qkv, lse, dout, dqkv);
  return NULL;
}

/* linearFwd(heap, n, in, out, x, w, b, y) */
static napi_value linear_fwd(napi_env env, napi_callback_info info) {
  BEGIN(8)
  size_t n = integer(&A, 1), in = integer(&A, 2), out = integer(&A, 3);
  float *x = floats(&A, 4, n * in), *w = floats(&A, 5, in * out), *b = floats(&A, 6, out), *y = floats(&A, 7, n * out);
  if (A.failed) return NULL;
  llm_linear_fwd(n, in, out, x, w, b, y);
  return NULL;
}

/* xentFwd(heap, n, v, ignore, x, t, lse, loss) */
static napi_value xent_fwd(napi_env env, napi_callback_info info) {
  BEGIN(8)
  size_t n = integer(&A, 1), v = integer(&A, 2);
  double ign = num(&A, 3);
  float *x = floats(&A, 4, n * v);
  int32_t *t = (int32_t *)floats(&A, 5, n);
  float *lse = floats(&A, 6, n), *loss = floats(&A, 7, 1);
  if (A.failed) return NULL;
  *loss = llm_xent_fwd(n, v, (int32_t)ign, x, t, lse);
  return NULL;
}

/* xentBwd(heap, n, v, ignore, dloss, x, t, lse, dx): dloss is the offset of a scalar */
static napi_value xent_bwd(napi_env env, napi_callback_info info) {
  BEGIN(9)
  size_t n = integer(&A, 1), v = integer(&A, 2);
  double ign = num(&A, 3);
  float *dl = floats(&A, 4, 1), *x = floats(&A, 5, n * v);
  int32_t *t = (int32_t *)floats(&A, 6, n);
  float *lse = floats(&A, 7, n), *dx = floats(&A, 8, n * v);
  if (A.failed) return NULL;
  llm_xent_bwd(n, v, (int32_t)ign, *dl, x, t, lse, dx);
  return NULL;
}

/* adamw(heap, n, lr, b1, b2, eps, wd, bc1, bc2, p, g, m, v, p2, m2, v2) */
static napi_value adamw(napi_env env, napi_callback_info info) {
  BEGIN(16)
  size_t n = integer(&A, 1);
  float lr = (float)num(&A, 2), b1 = (float)num(&A, 3), b2 = (float)num(&A, 4), eps = (float)num(&A, 5);
  float wd = (float)num(&A, 6), bc1 = (float)num(&A, 7), bc2 = (float)num(&A, 8);
  float *p = floats(&A, 9, n), *g = floats(&A, 10, n), *m = floats(&A, 11, n), *v = floats(&A, 12, n);
  float *p2 = floats(&A, 13, n), *m2 = floats(&A, 14, n), *v2 = floats(&A, 15, n);
  if (A.failed) return NULL;
  llm_adamw(n, lr, b1, b2, eps, wd, bc1, bc2, p, g, m, v, p2, m2, v2);
  return NULL;
}

/* sumRows(heap, rows, cols, x, out) */
static napi_value sum_rows(napi_env env, napi_callback_info info) {
  BEGIN(5)
  size_t rows = integer(&A, 1), cols = integer(&A, 2);
  float *x = floats(&A, 3, rows * cols), *out = floats(&A, 4, cols);
  if (A.failed) return NULL;
  llm_sum_rows(rows, cols, x, out);
  return NULL;
}

/* add(heap, rows, cols, a, b, bIsRow, out) */
static napi_value add(napi_env env, napi_callback_info info) {
  BEGIN(7)
  size_t rows = integer(&A, 1), cols = integer(&A, 2);
  int row = flag(&A, 5);
  float *a = floats(&A, 3, rows * cols), *b = floats(&A, 4, row ? cols : rows * cols), *out = floats(&A, 6, rows * cols);
  if (A.failed) return NULL;
  llm_add(rows, cols, a, b, row, out);
  return NULL;
}

/* permute(heap, shape[], perm[], x, out): 4-byte elements */
static napi_value permute(napi_env env, napi_callback_info info) {
  BEGIN(5)
  int shape[8], perm[8], seen[8] = {0};
  uint32_t rank = 0, prank = 0;
  if (!A.failed && (napi_get_array_length(env, A.argv[1], &rank) != napi_ok ||
                    napi_get_array_length(env, A.argv[2], &prank) != napi_ok || rank != prank || rank < 1 || rank > 8))
    fail(&A, "permute: shape and perm must be arrays of equal length 1..8");
  size_t n = 1;
  for (uint32_t i = 0; i < rank && !A.failed; i++) {
    napi_value v;
    int32_t s = -1, p = -1;
    napi_get_element(env, A.argv[1], i, &v);
    napi_get_value_int32(env, v, &s);
    napi_get_element(env, A.argv[2], i, &v);
    napi_get_value_int32(env, v, &p);
    if (s < 0 || p < 0 || p >= (int32_t)rank || seen[p]++) fail(&A, "permute: bad shape or perm");
    shape[i] = s;
    perm[i] = p;
    n *= (size_t)(s < 0 ? 0 : s);
  }
  uint32_t *x = (uint32_t *)floats(&A, 3, n), *out = (uint32_t *)floats(&A, 4, n);
  if (A.failed) return NULL;
  llm_permute((int)rank, shape, perm, x, out);
  return NULL;
}

/* copyRuns(heap, count, len, src, srcStride, dst, dstStride): strides in elements */
static napi_value copy_runs(napi_env env, napi_callback_info info) {
  BEGIN(7)
  size_t count = integer(&A, 1), len = integer(&A, 2), ss = integer(&A, 4), ds = integer(&A, 6);
  if (A.failed || count == 0 || len == 0) return NULL;
  uint32_t *src = (uint32_t *)floats(&A, 3, (count - 1) * ss + len);
  uint32_t *dst = (uint32_t *)floats(&A, 5, (count - 1) * ds + len);
  if (A.failed) return NULL;
  llm_copy_runs(count, len, src, ss, dst, ds);
  return NULL;
}

/* gatherRows(heap, n, len, tableRows, idx, src, dst): every idx must lie in [0, tableRows) */
static napi_value gather_rows(napi_env env, napi_callback_info info) {
  BEGIN(7)
  size_t n = integer(&A, 1), len = integer(&A, 2), rows = integer(&A, 3);
  int32_t *idx = (int32_t *)floats(&A, 4, n);
  uint32_t *src = (uint32_t *)floats(&A, 5, rows * len), *dst = (uint32_t *)floats(&A, 6, n * len);
  if (A.failed) return NULL;
  for (size_t i = 0; i < n; i++)
    if (idx[i] < 0 || (size_t)idx[i] >= rows) {
      fail(&A, "gatherRows: index out of range");
      return NULL;
    }
  llm_gather_rows(n, len, idx, src, dst);
  return NULL;
}

#undef BEGIN

#define FUSED_PROP(js, c) {js, NULL, c, NULL, NULL, NULL, napi_enumerable, NULL}
#define FUSED_PROPERTIES                                                        \
  FUSED_PROP("geluFwd", gelu_fwd), FUSED_PROP("geluBwd", gelu_bwd),             \
  FUSED_PROP("layerNormFwd", layernorm_fwd), FUSED_PROP("rmsNormFwd", rmsnorm_fwd), \
  FUSED_PROP("normBwd", norm_bwd), FUSED_PROP("attentionFwd", attention_fwd),   \
  FUSED_PROP("attentionBwd", attention_bwd), \
  FUSED_PROP("attentionQkvFwd", attention_qkv_fwd), FUSED_PROP("attentionQkvBwd", attention_qkv_bwd), FUSED_PROP("xentFwd", xent_fwd), FUSED_PROP("linearFwd", linear_fwd),   \
  FUSED_PROP("xentBwd", xent_bwd), FUSED_PROP("adamw", adamw),                  \
  FUSED_PROP("sumRows", sum_rows), FUSED_PROP("add", add), FUSED_PROP("permute", permute), \
  FUSED_PROP("copyRuns", copy_runs), FUSED_PROP("gatherRows", gather_rows),
