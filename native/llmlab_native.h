/* Shared declarations of the llmlab native kernels (see README in this folder). */
#ifndef LLMLAB_NATIVE_H
#define LLMLAB_NATIVE_H
#include <stddef.h>

/* Hot loops are compiled for x86-64-v4 (AVX-512), x86-64-v3 (AVX2+FMA) and
 * the baseline, and the loader picks at run time: the addon built on one
 * machine still runs correctly on an older CPU if the folder is copied. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LLM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LLM_CLONES
#endif

/* Start up the BLAS: OpenBLAS through dlopen when present, else the builtin sgemm. */
void llm_gemm_init(void);
/* "openblas" or "builtin". */
const char *llm_gemm_backend(void);
int llm_gemm_threads(void);
/* OpenBLAS's kernel family (e.g. "SkylakeX"), or "" without OpenBLAS. */
const char *llm_blas_core(void);
void llm_gemm_set_threads(int n);
/* Best instruction set the running CPU offers to the cloned loops. */
const char *llm_isa(void);

/* Row-major C = op(A)·op(B) (beta 0) or C += op(A)·op(B) (beta 1). */
void llm_sgemm(int transA, int transB, int m, int n, int k,
               const float *a, int lda, const float *b, int ldb,
               float beta, float *c, int ldc);

void llm_gemm_force_builtin(int on);

/* Fused kernels (fused.c); pointers that may be NULL are documented there. */
#include <stdint.h>
void llm_gelu_fwd(size_t n, const float *x, float *y);
void llm_gelu_bwd(size_t n, const float *x, const float *dy, float *dx);
void llm_layernorm_fwd(size_t rows, size_t d, float eps, const float *x, const float *g, const float *b,
                       float *y, float *mean, float *rstd);
void llm_rmsnorm_fwd(size_t rows, size_t d, float eps, const float *x, const float *g, float *y, float *rstd);
void llm_norm_bwd(size_t rows, size_t d, const float *x, const float *g, const float *mean, const float *rstd,
                  const float *dy, float *dx, float *dg, float *db);
void llm_attention_fwd(size_t heads, size_t tq, size_t tk, size_t hd, float scale,
                       const float *q, const float *k, const float *v, float *o, float *p, float *lse);
void llm_attention_bwd(size_t heads, size_t tq, size_t tk, size_t hd, float scale,
                       const float *q, const float *k, const float *v, const float *p, const float *lse,
                       const float *dout, const float *dp_extra, float *dq, float *dk, float *dv);
void llm_attention_qkv_fwd(size_t batch, size_t t, size_t heads, size_t hd, float scale,
                           const float *qkv, float *o, float *lse);
void llm_attention_qkv_bwd(size_t batch, size_t t, size_t heads, size_t hd, float scale,
                           const float *qkv, const float *lse, const float *dout, float *dqkv);
void llm_linear_fwd(size_t n, size_t in, size_t out, const float *x, const float *w, const float *b, float *y);
float llm_xent_fwd(size_t n, size_t v, int32_t ignore, const float *x, const int32_t *t, float *lse);
void llm_xent_bwd(size_t n, size_t v, int32_t ignore, float dloss, const float *x, const int32_t *t,
                  const float *lse, float *dx);
void llm_adamw(size_t n, float lr, float b1, float b2, float eps, float wd, float bc1, float bc2,
               const float *p, const float *g, const float *m, const float *v, float *p2, float *m2, float *v2);
void llm_sum_rows(size_t rows, size_t cols, const float *x, float *out);
void llm_add(size_t rows, size_t cols, const float *a, const float *b, int b_is_row, float *out);
void llm_copy_runs(size_t count, size_t len, const uint32_t *src, size_t ss, uint32_t *dst, size_t ds);
void llm_gather_rows(size_t n, size_t len, const int32_t *idx, const uint32_t *src, uint32_t *dst);
void llm_permute(int rank, const int *shape, const int *perm, const uint32_t *x, uint32_t *out);

#endif
