// Tests for the Graph<M> code-scoring kernels (retrieval/graph_kernels.h):
// every variant this CPU runs, 8-bit and 4-bit, against a scalar oracle
// written from the documented row layout, on random codes and weights at
// the extremes the walk allows, odd and even dimensions, rows picked out of
// order.
#include "retrieval/graph_kernels.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/core/random.h"

namespace recbandit::retrieval {
namespace {

// Packs per-dimension codes (n x dim, each < 2^bits) into kernel rows.
std::vector<uint8_t> Pack(const std::vector<uint8_t>& codes, int32_t n, int32_t dim, int32_t bits) {
  const int32_t rb = CodeRowBytes(bits, dim);
  std::vector<uint8_t> rows(static_cast<size_t>(n) * rb, 0);
  for (int32_t i = 0; i < n; ++i) {
    for (int32_t j = 0; j < dim; ++j) {
      const uint8_t c = codes[static_cast<size_t>(i) * dim + j];
      if (bits == 4) {
        rows[static_cast<size_t>(i) * rb + j / 2] |= static_cast<uint8_t>(c << (4 * (j % 2)));
      } else {
        rows[static_cast<size_t>(i) * rb + j] = c;
      }
    }
  }
  return rows;
}

// Per-dimension weights in the kernel's order.
std::vector<int16_t> Arrange(const std::vector<int16_t>& w, int32_t dim, int32_t bits) {
  if (bits == 8) return w;
  const int32_t rb = CodeRowBytes(4, dim);
  std::vector<int16_t> out(2 * static_cast<size_t>(rb), 0);
  for (int32_t j = 0; j < dim; ++j) out[(j % 2) * rb + j / 2] = w[j];
  return out;
}

TEST(GraphKernelsTest, RowBytes) {
  EXPECT_EQ(CodeRowBytes(8, 64), 64);
  EXPECT_EQ(CodeRowBytes(4, 64), 32);
  EXPECT_EQ(CodeRowBytes(4, 63), 32);
  EXPECT_EQ(CodeRowBytes(4, 1), 1);
}

TEST(GraphKernelsTest, EveryVariantMatchesTheOracle) {
  Rng rng(31);
  for (int32_t bits : {8, 4}) {
    const std::vector<CodeScoreKernel> kernels = CodeScoreKernels(bits);
    ASSERT_FALSE(kernels.empty());
    EXPECT_EQ(std::string(kernels.back().name), "scalar");
    EXPECT_EQ(BestCodeScoreFn(bits), kernels.front().fn);
    const int32_t max_code = (1 << bits) - 1;
    for (int32_t dim : {1, 2, 3, 7, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 96, 127, 130}) {
      const int32_t n = 40;
      // The walk's bound: |w| <= min(32767, (2^31 - 1) / (max_code * dim)).
      const int64_t limit = std::min<int64_t>(32767, 2147483647 / (int64_t{max_code} * dim));
      for (int trial = 0; trial < 4; ++trial) {
        std::vector<uint8_t> codes(static_cast<size_t>(n) * dim);
        for (uint8_t& c : codes) {
          // Trial 0: every code at its maximum (the largest sums).
          c = static_cast<uint8_t>(trial == 0 ? max_code : rng.UniformInt(max_code + 1));
        }
        std::vector<int16_t> w(dim);
        for (int32_t j = 0; j < dim; ++j) {
          const int64_t a =
              trial == 0 ? limit : static_cast<int64_t>(rng.UniformInt(2 * limit + 1)) - limit;
          w[j] = static_cast<int16_t>(trial == 1 && j % 2 == 0 ? -limit : a);
        }
        std::vector<int32_t> pos;
        for (int32_t t = 0; t < n; t += 1 + static_cast<int32_t>(rng.UniformInt(3))) {
          pos.push_back(static_cast<int32_t>(rng.UniformInt(n)));
        }
        std::vector<int32_t> want(pos.size());
        for (size_t t = 0; t < pos.size(); ++t) {
          int64_t s = 0;
          for (int32_t j = 0; j < dim; ++j) {
            s += int64_t{codes[static_cast<size_t>(pos[t]) * dim + j]} * w[j];
          }
          want[t] = static_cast<int32_t>(s);
        }
        const std::vector<uint8_t> rows = Pack(codes, n, dim, bits);
        const std::vector<int16_t> kw = Arrange(w, dim, bits);
        for (const CodeScoreKernel& k : kernels) {
          std::vector<int32_t> got(pos.size(), -1);
          k.fn(rows.data(), dim, pos.data(), static_cast<int32_t>(pos.size()), kw.data(),
               got.data());
          EXPECT_EQ(got, want) << k.name << " bits " << bits << " dim " << dim << " trial "
                               << trial;
        }
      }
    }
  }
}

}  // namespace
}  // namespace recbandit::retrieval
