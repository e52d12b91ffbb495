// Small float32 kernels for the learners' hot loops (dot, axpy, symmetric
// mat-vec), written so the compiler vectorizes them (OpenMP simd), and the
// RECBANDIT_MULTIVERSION attribute that compiles a function for AVX2+FMA and
// for the baseline, picking one at load time (the build is portable);
// RECBANDIT_MULTIVERSION_AVX512 adds an AVX-512 clone for the dense kernels
// that gain from 16-float vectors (the ALS Cholesky row solve).
#ifndef RECBANDIT_RANKING_SIMD_H_
#define RECBANDIT_RANKING_SIMD_H_

#include <cstdint>

#include "proto/core/target_clones.h"

#define RECBANDIT_MULTIVERSION RECBANDIT_TARGET_CLONES("arch=x86-64-v3", "default")
#define RECBANDIT_MULTIVERSION_AVX512 \
  RECBANDIT_TARGET_CLONES("arch=x86-64-v4", "arch=x86-64-v3", "default")

namespace recbandit::ranking::simd {

// Returns sum a[i] * b[i].
inline __attribute__((always_inline)) float Dot(const float* a, const float* b, int32_t n) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int32_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y += a * x.
inline __attribute__((always_inline)) void Axpy(float a, const float* x, float* y,
                                                int32_t n) {
#pragma omp simd
  for (int32_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// out = m * x for a SYMMETRIC d x d row-major matrix m, computed as a sum of
// rows scaled by x (no horizontal reductions).
inline __attribute__((always_inline)) void SymMatVec(const float* m, const float* x,
                                                     float* out, int32_t d) {
#pragma omp simd
  for (int32_t c = 0; c < d; ++c) out[c] = 0.0f;
  for (int32_t r = 0; r < d; ++r) Axpy(x[r], m + int64_t{r} * d, out, d);
}

}  // namespace recbandit::ranking::simd

#endif  // RECBANDIT_RANKING_SIMD_H_
