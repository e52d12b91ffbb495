// Code-scoring kernels for the Graph<M> walk: 8-bit (int16 x uint8) and
// 4-bit (int16 x nibble) dot products, scalar, AVX2 and AVX-512BW, chosen at
// run time (manual dispatch keeps the binary portable; target_clones cannot
// wrap intrinsics).
#include "retrieval/graph_kernels.h"

#include <immintrin.h>

namespace recbandit::retrieval {
namespace {

void Score8Scalar(const uint8_t* codes, int32_t dim, const int32_t* pos, int32_t count,
                  const int16_t* w, int32_t* out) {
  for (int32_t t = 0; t < count; ++t) {
    const uint8_t* c = codes + static_cast<int64_t>(pos[t]) * dim;
    int32_t s = 0;
    for (int32_t j = 0; j < dim; ++j) s += static_cast<int32_t>(c[j]) * w[j];
    out[t] = s;
  }
}

void Score4Scalar(const uint8_t* codes, int32_t dim, const int32_t* pos, int32_t count,
                  const int16_t* w, int32_t* out) {
  const int32_t rb = CodeRowBytes(4, dim);
  for (int32_t t = 0; t < count; ++t) {
    const uint8_t* c = codes + static_cast<int64_t>(pos[t]) * rb;
    int32_t s = 0;
    for (int32_t b = 0; b < rb; ++b) {
      s += static_cast<int32_t>(c[b] & 15) * w[b] + static_cast<int32_t>(c[b] >> 4) * w[rb + b];
    }
    out[t] = s;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) inline int32_t Sum8(__m256i acc) {
  __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
  s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
  return _mm_cvtsi128_si32(s4);
}

__attribute__((target("avx2"))) void Score8Avx2(const uint8_t* codes, int32_t dim,
                                                const int32_t* pos, int32_t count, const int16_t* w,
                                                int32_t* out) {
  for (int32_t t = 0; t < count; ++t) {
    const uint8_t* c = codes + static_cast<int64_t>(pos[t]) * dim;
    __m256i acc = _mm256_setzero_si256();
    int32_t j = 0;
    for (; j + 16 <= dim; j += 16) {
      const __m256i cc =
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + j)));
      const __m256i ww = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(cc, ww));
    }
    int32_t s = Sum8(acc);
    for (; j < dim; ++j) s += static_cast<int32_t>(c[j]) * w[j];
    out[t] = s;
  }
}

__attribute__((target("avx2"))) void Score4Avx2(const uint8_t* codes, int32_t dim,
                                                const int32_t* pos, int32_t count, const int16_t* w,
                                                int32_t* out) {
  const int32_t rb = CodeRowBytes(4, dim);
  const __m256i low = _mm256_set1_epi16(15);
  for (int32_t t = 0; t < count; ++t) {
    const uint8_t* c = codes + static_cast<int64_t>(pos[t]) * rb;
    __m256i acc = _mm256_setzero_si256();
    int32_t b = 0;
    for (; b + 16 <= rb; b += 16) {
      const __m256i v =
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + b)));
      const __m256i we = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + b));
      const __m256i wo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + rb + b));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_and_si256(v, low), we));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_srli_epi16(v, 4), wo));
    }
    int32_t s = Sum8(acc);
    for (; b < rb; ++b) {
      s += static_cast<int32_t>(c[b] & 15) * w[b] + static_cast<int32_t>(c[b] >> 4) * w[rb + b];
    }
    out[t] = s;
  }
}

__attribute__((target("avx512f,avx512bw"))) void Score8Avx512(const uint8_t* codes, int32_t dim,
                                                              const int32_t* pos, int32_t count,
                                                              const int16_t* w, int32_t* out) {
  for (int32_t t = 0; t < count; ++t) {
    const uint8_t* c = codes + static_cast<int64_t>(pos[t]) * dim;
    __m512i acc = _mm512_setzero_si512();
    int32_t j = 0;
    for (; j + 32 <= dim; j += 32) {
      const __m512i cc =
          _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + j)));
      const __m512i ww = _mm512_loadu_si512(w + j);
      acc = _mm512_add_epi32(acc, _mm512_madd_epi16(cc, ww));
    }
    // (Lanes summed through memory: GCC 12 warns inside the reduce and
    // extract intrinsics.)
    alignas(64) int32_t lanes[16];
    _mm512_store_si512(lanes, acc);
    int32_t s = 0;
    for (int32_t lane : lanes) s += lane;
    for (; j < dim; ++j) s += static_cast<int32_t>(c[j]) * w[j];
    out[t] = s;
  }
}
#endif

}  // namespace

std::vector<CodeScoreKernel> CodeScoreKernels(int32_t bits) {
  std::vector<CodeScoreKernel> out;
#if defined(__x86_64__) && defined(__GNUC__)
  // A 4-bit row is 32 bytes at dim 64, one AVX2 step: no AVX-512 variant.
  __builtin_cpu_init();
  if (bits == 8 && __builtin_cpu_supports("avx512bw")) out.push_back({"avx512bw", Score8Avx512});
  if (__builtin_cpu_supports("avx2")) out.push_back({"avx2", bits == 4 ? Score4Avx2 : Score8Avx2});
#endif
  out.push_back({"scalar", bits == 4 ? Score4Scalar : Score8Scalar});
  return out;
}

CodeScoreFn BestCodeScoreFn(int32_t bits) {
  static const CodeScoreFn k8 = CodeScoreKernels(8).front().fn;
  static const CodeScoreFn k4 = CodeScoreKernels(4).front().fn;
  return bits == 4 ? k4 : k8;
}

}  // namespace recbandit::retrieval
