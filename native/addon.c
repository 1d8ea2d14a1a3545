/* Node-API entry points. Every kernel works in place on the tfjs wasm
 * backend's heap: JS passes the heap's ArrayBuffer (re-read on each call,
 * since memory growth replaces it) and byte offsets of the tensors in it.
 * Offsets and sizes are checked against the buffer before any access. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include "llmlab_native.h"

/* Bumped whenever an exported function changes; lib/backend/kernels/native.ts
 * refuses an addon whose version differs (a stale build). */
#define LLMLAB_NATIVE_ABI 6

typedef struct {
  napi_env env;
  napi_value argv[24];
  size_t argc;
  int failed;
  uint8_t *heap;
  size_t heapLen;
} Args;

static int fail(Args *A, const char *msg) {
  if (!A->failed) napi_throw_error(A->env, "ERR_LLMLAB_NATIVE", msg);
  A->failed = 1;
  return 0;
}

static int get_args(napi_env env, napi_callback_info info, Args *A, size_t want) {
  A->env = env;
  A->failed = 0;
  A->argc = 24;
  A->heap = NULL;
  A->heapLen = 0;
  if (napi_get_cb_info(env, info, &A->argc, A->argv, NULL, NULL) != napi_ok) return fail(A, "bad call");
  if (A->argc < want) return fail(A, "too few arguments");
  return 1;
}

static double num(Args *A, size_t i) {
  double v = 0;
  if (A->failed) return 0;
  if (napi_get_value_double(A->env, A->argv[i], &v) != napi_ok) fail(A, "expected a number argument");
  return v;
}

static int integer(Args *A, size_t i) {
  double v = num(A, i);
  if (A->failed) return 0;
  if (v != (double)(int64_t)v || v < 0 || v > 2147483647.0) fail(A, "expected a non-negative integer argument");
  return (int)v;
}

static int flag(Args *A, size_t i) {
  bool v = false;
  if (A->failed) return 0;
  napi_valuetype t;
  napi_typeof(A->env, A->argv[i], &t);
  if (t == napi_number) return num(A, i) != 0;
  if (napi_get_value_bool(A->env, A->argv[i], &v) != napi_ok) fail(A, "expected a boolean argument");
  return v;
}

static void heap_arg(Args *A, size_t i) {
  void *data = NULL;
  size_t len = 0;
  if (A->failed) return;
  if (napi_get_arraybuffer_info(A->env, A->argv[i], &data, &len) != napi_ok) {
    fail(A, "expected the wasm heap's ArrayBuffer");
    return;
  }
  A->heap = data;
  A->heapLen = len;
}

/* A float32 array of `count` elements at byte offset argv[i], checked to lie in the heap. */
static float *floats(Args *A, size_t i, size_t count) {
  double off = num(A, i);
  if (A->failed) return NULL;
  if (off < 0 || off != (double)(uint64_t)off || ((uint64_t)off & 3)) { fail(A, "bad tensor offset"); return NULL; }
  if ((uint64_t)off + count * 4 > A->heapLen) { fail(A, "tensor lies outside the wasm heap"); return NULL; }
  return (float *)(A->heap + (uint64_t)off);
}

/* sgemmBatched(heap, batch, transA, transB, m, n, k, aOff, strideA, bOff, strideB, cOff, strideC):
 * C[i] = op(A[i])·op(B[i]); strides in elements, 0 = the same matrix for every i. */
static napi_value sgemm_batched(napi_env env, napi_callback_info info) {
  Args A;
  if (!get_args(env, info, &A, 13)) return NULL;
  heap_arg(&A, 0);
  int batch = integer(&A, 1), ta = flag(&A, 2), tb = flag(&A, 3);
  int m = integer(&A, 4), n = integer(&A, 5), k = integer(&A, 6);
  int sa = integer(&A, 8), sb = integer(&A, 10), sc = integer(&A, 12);
  if (A.failed) return NULL;
  if (batch == 0 || m == 0 || n == 0) return NULL;
  float *a = floats(&A, 7, (size_t)(batch - 1) * sa + (size_t)m * k);
  float *b = floats(&A, 9, (size_t)(batch - 1) * sb + (size_t)k * n);
  float *c = floats(&A, 11, (size_t)(batch - 1) * sc + (size_t)m * n);
  if (A.failed) return NULL;
  int lda = ta ? m : k, ldb = tb ? k : n;
  for (int i = 0; i < batch; i++)
    llm_sgemm(ta, tb, m, n, k, a + (size_t)i * sa, lda, b + (size_t)i * sb, ldb, 0.0f, c + (size_t)i * sc, n);
  return NULL;
}

static napi_value set_threads(napi_env env, napi_callback_info info) {
  Args A;
  if (!get_args(env, info, &A, 1)) return NULL;
  int n = integer(&A, 0);
  if (A.failed) return NULL;
  llm_gemm_set_threads(n < 1 ? 1 : n);
  return NULL;
}

static napi_value use_builtin_gemm(napi_env env, napi_callback_info info) {
  Args A;
  if (!get_args(env, info, &A, 1)) return NULL;
  int on = flag(&A, 0);
  if (A.failed) return NULL;
  llm_gemm_force_builtin(on);
  return NULL;
}

static napi_value info_fn(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, llm_gemm_backend(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "blas", v);
  napi_create_int32(env, llm_gemm_threads(), &v);
  napi_set_named_property(env, obj, "threads", v);
  napi_create_string_utf8(env, llm_isa(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "isa", v);
  napi_create_string_utf8(env, llm_blas_core(), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "blasCore", v);
  return obj;
}

#include "fused_entries.h"

NAPI_MODULE_INIT() {
  llm_gemm_init();
  napi_property_descriptor props[] = {
    {"sgemmBatched", NULL, sgemm_batched, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
    {"useBuiltinGemm", NULL, use_builtin_gemm, NULL, NULL, NULL, napi_enumerable, NULL},
    {"info", NULL, info_fn, NULL, NULL, NULL, napi_enumerable, NULL},
    FUSED_PROPERTIES
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value abi;
  napi_create_int32(env, LLMLAB_NATIVE_ABI, &abi);
  napi_set_named_property(env, exports, "abi", abi);
  return exports;
}
