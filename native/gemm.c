/* Matrix products for the native path: OpenBLAS's cblas_sgemm when the
 * shared library can be opened at run time (no headers or link flags needed
 * at build time), otherwise a blocked, vectorised sgemm of our own. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "llmlab_native.h"

typedef void (*cblas_sgemm_fn)(int order, int transA, int transB, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

static cblas_sgemm_fn blas_sgemm;
static void (*blas_set_threads)(int);
static int (*blas_get_threads)(void);
static char *(*blas_corename)(void);
static int force_builtin;

void llm_gemm_init(void) {
  static const char *names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp-r0.so", NULL};
  const char *off = getenv("LLMLAB_BLAS");
  if (off && (strcmp(off, "builtin") == 0 || strcmp(off, "0") == 0)) return;
  /* OpenBLAS 0.3.21 (Debian 12) does not recognise recent Xeons and falls
   * back to its SSE3 "Prescott" kernels, 4x slower than its AVX-512 ones.
   * Unless the user chose a core type, pick one from what the CPU really
   * supports; OpenBLAS reads the variable once, when it is loaded. */
  int chose_core = 0;
  if (!getenv("OPENBLAS_CORETYPE")) {
    const char *isa = llm_isa();
    const char *core = strcmp(isa, "x86-64-v4") == 0 ? "SkylakeX" : strcmp(isa, "x86-64-v3") == 0 ? "Haswell" : NULL;
    if (core) chose_core = setenv("OPENBLAS_CORETYPE", core, 1) == 0;
  }
  for (int i = 0; names[i]; i++) {
    void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    cblas_sgemm_fn f = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
    if (!f) { dlclose(h); continue; }
    blas_sgemm = f;
    blas_set_threads = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    blas_get_threads = (int (*)(void))dlsym(h, "openblas_get_num_threads");
    blas_corename = (char *(*)(void))dlsym(h, "openblas_get_corename");
    break;
  }
  if (chose_core) unsetenv("OPENBLAS_CORETYPE");
}

const char *llm_blas_core(void) {
  const char *c = blas_sgemm && blas_corename ? blas_corename() : NULL;
  return c ? c : "";
}

const char *llm_gemm_backend(void) { return blas_sgemm && !force_builtin ? "openblas" : "builtin"; }
int llm_gemm_threads(void) { return blas_sgemm && !force_builtin && blas_get_threads ? blas_get_threads() : 1; }
void llm_gemm_set_threads(int n) { if (blas_set_threads && n >= 1) blas_set_threads(n); }
void llm_gemm_force_builtin(int on) { force_builtin = on; }

const char *llm_isa(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) return "x86-64-v4";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "x86-64-v3";
  return "x86-64";
#else
  return "generic";
#endif
}

/* The builtin blocked sgemm (below); llm_gemm_force_builtin(1) routes every product to it. */
static void llm_sgemm_builtin(int transA, int transB, int m, int n, int k,
                              const float *a, int lda, const float *b, int ldb,
                              float beta, float *c, int ldc);

void llm_sgemm(int transA, int transB, int m, int n, int k,
               const float *a, int lda, const float *b, int ldb,
               float beta, float *c, int ldc) {
  /* Empty products here, for both paths: BLAS rejects lda/ldb of 0. */
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (beta == 0.0f) for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, sizeof(float) * (size_t)n);
    return;
  }
  if (blas_sgemm && !force_builtin) {
    blas_sgemm(CBLAS_ROW_MAJOR, transA ? CBLAS_TRANS : CBLAS_NO_TRANS, transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
               m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  llm_sgemm_builtin(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

/* ---- builtin sgemm: pack op(A) into MR-row panels and op(B) into NR-column
 * panels per (KC x NC) block, then a register-blocked MR x NR micro-kernel. */
#define MR 6
#define NR 16
#define KC 256
#define MC 120
#define NC 1024

typedef float v8f __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) v8f load8(const float *p) {
  v8f v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline __attribute__((always_inline)) void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

static void pack_a(int transA, const float *a, int lda, int i0, int mc, int p0, int kc, float *ap) {
  for (int ib = 0; ib < mc; ib += MR) {
    int rows = mc - ib < MR ? mc - ib : MR;
    for (int p = 0; p < kc; p++) {
      for (int ii = 0; ii < MR; ii++) {
        float v = 0.0f;
        if (ii < rows) {
          int i = i0 + ib + ii, q = p0 + p;
          v = transA ? a[(size_t)q * lda + i] : a[(size_t)i * lda + q];
        }
        *ap++ = v;
      }
    }
  }
}

static void pack_b(int transB, const float *b, int ldb, int p0, int kc, int j0, int nc, float *bp) {
  for (int jb = 0; jb < nc; jb += NR) {
    int cols = nc - jb < NR ? nc - jb : NR;
    for (int p = 0; p < kc; p++) {
      int q = p0 + p;
      if (!transB && cols == NR) {
        memcpy(bp, b + (size_t)q * ldb + j0 + jb, sizeof(float) * NR);
        bp += NR;
        continue;
      }
      for (int jj = 0; jj < NR; jj++) {
        float v = 0.0f;
        if (jj < cols) {
          int j = j0 + jb + jj;
          v = transB ? b[(size_t)j * ldb + q] : b[(size_t)q * ldb + j];
        }
        *bp++ = v;
      }
    }
  }
}

/* acc = ap-panel · bp-panel; then C (rows x cols valid) = acc or += acc. */
static inline __attribute__((always_inline)) void micro_kernel(int kc, const float *ap, const float *bp,
                                                               float *c, int ldc, int rows, int cols, int add) {
  v8f acc[MR][2];
  for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = (v8f){0};
  for (int p = 0; p < kc; p++) {
    v8f b0 = load8(bp), b1 = load8(bp + 8);
    for (int i = 0; i < MR; i++) {
      acc[i][0] += ap[i] * b0;
      acc[i][1] += ap[i] * b1;
    }
    ap += MR;
    bp += NR;
  }
  if (rows == MR && cols == NR) {
    for (int i = 0; i < MR; i++) {
      float *ci = c + (size_t)i * ldc;
      if (add) {
        store8(ci, load8(ci) + acc[i][0]);
        store8(ci + 8, load8(ci + 8) + acc[i][1]);
      } else {
        store8(ci, acc[i][0]);
        store8(ci + 8, acc[i][1]);
      }
    }
    return;
  }
  float tmp[MR][NR];
  for (int i = 0; i < MR; i++) {
    store8(tmp[i], acc[i][0]);
    store8(tmp[i] + 8, acc[i][1]);
  }
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) c[(size_t)i * ldc + j] = add ? c[(size_t)i * ldc + j] + tmp[i][j] : tmp[i][j];
}

LLM_CLONES
static void macro_kernel(int mc, int nc, int kc, const float *ap, const float *bp, float *c, int ldc, int add) {
  for (int jb = 0; jb < nc; jb += NR) {
    int cols = nc - jb < NR ? nc - jb : NR;
    for (int ib = 0; ib < mc; ib += MR) {
      int rows = mc - ib < MR ? mc - ib : MR;
      micro_kernel(kc, ap + (size_t)ib * kc, bp + (size_t)jb * kc, c + (size_t)ib * ldc + jb, ldc, rows, cols, add);
    }
  }
}

static float *alloc_floats(size_t count) {
  size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
  return aligned_alloc(64, bytes);
}

/* m, n, k >= 1: llm_sgemm has handled empty products. */
static void llm_sgemm_builtin(int transA, int transB, int m, int n, int k,
                              const float *a, int lda, const float *b, int ldb,
                              float beta, float *c, int ldc) {
  int ncMax = n < NC ? n : NC;
  int kcMax = k < KC ? k : KC;
  float *bp = alloc_floats((size_t)(((ncMax + NR - 1) / NR) * NR) * kcMax);
  float *ap = alloc_floats((size_t)(((MC + MR - 1) / MR) * MR) * kcMax);
  if (!ap || !bp) abort(); /* out of memory: nothing sensible left to do */
  for (int j0 = 0; j0 < n; j0 += NC) {
    int nc = n - j0 < NC ? n - j0 : NC;
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = k - p0 < KC ? k - p0 : KC;
      int add = p0 > 0 || beta != 0.0f;
      pack_b(transB, b, ldb, p0, kc, j0, nc, bp);
      for (int i0 = 0; i0 < m; i0 += MC) {
        int mc = m - i0 < MC ? m - i0 : MC;
        pack_a(transA, a, lda, i0, mc, p0, kc, ap);
        macro_kernel(mc, nc, kc, ap, bp, c + (size_t)i0 * ldc + j0, ldc, add);
      }
    }
  }
  free(ap);
  free(bp);
}
