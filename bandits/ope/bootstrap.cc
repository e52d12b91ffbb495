// The Poisson bootstrap of bandits/ope/bootstrap.h: Poisson(1) multiplicities
// from 16-bit slices of one generator word, accumulated column by column.
#include "bandits/ope/bootstrap.h"

#include <algorithm>
#include <cmath>

#include "proto/core/random.h"

namespace recbandit::bandits {
namespace {

// Returns four Poisson(1) draws from one 64-bit random number (16 bits each,
// inverting the CDF at 1/65536 resolution; the tail beyond 7 is folded into 7,
// a 1e-5 probability).
inline void FourPoissonOnes(uint64_t bits, double* out) {
  // Poisson(1) CDF at 0..6 times 65536.
  static constexpr uint32_t kCdf[] = {24109, 48218, 60273, 64291, 65296, 65497, 65530};
  for (int j = 0; j < 4; ++j) {
    const uint32_t u = static_cast<uint32_t>(bits >> (16 * j)) & 0xFFFFu;
    int k = 0;
    for (uint32_t c : kCdf) k += u >= c;  // branch-free
    out[j] = k;
  }
}

}  // namespace

BootstrapSums PoissonBootstrapSums(absl::Span<const double* const> columns, int64_t n,
                                   int32_t resamples, uint64_t seed,
                                   const ProgressCallback& progress) {
  BootstrapSums out;
  out.resamples = resamples;
  out.columns = columns.size();
  const size_t t = columns.size();
  std::vector<Rng> rngs;
  rngs.reserve(resamples);
  for (int32_t rep = 0; rep < resamples; ++rep) {
    rngs.emplace_back(Mix64(seed ^ 0x6f7065626f6f74ULL) + static_cast<uint64_t>(rep));
  }
  out.sums.assign(static_cast<size_t>(resamples) * t, 0.0);
  out.counts.assign(resamples, 0.0);
  constexpr int64_t kBlock = 2048;  // multiple of 4
  std::vector<double> k(kBlock);
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t len = std::min(kBlock, n - start);
    for (int32_t rep = 0; rep < resamples; ++rep) {
      Rng& rng = rngs[rep];
      for (int64_t j = 0; j < len; j += 4) FourPoissonOnes(rng(), &k[j]);
      double count = 0;
      for (int64_t j = 0; j < len; ++j) count += k[j];
      out.counts[rep] += count;
      double* rep_sums = out.sums.data() + static_cast<size_t>(rep) * t;
      for (size_t col = 0; col < t; ++col) {
        const double* x = columns[col] + start;
        // Four accumulators let the compiler keep two SIMD lanes busy.
        double acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
        int64_t j = 0;
        for (; j + 4 <= len; j += 4) {
          acc0 += k[j] * x[j];
          acc1 += k[j + 1] * x[j + 1];
          acc2 += k[j + 2] * x[j + 2];
          acc3 += k[j + 3] * x[j + 3];
        }
        for (; j < len; ++j) acc0 += k[j] * x[j];
        rep_sums[col] += (acc0 + acc1) + (acc2 + acc3);
      }
    }
    if (progress) progress(start + len, n);
  }
  return out;
}

std::pair<double, double> PercentileInterval95(std::vector<double>* values) {
  std::vector<double>& v = *values;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const double pos = q * (v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - lo) * (v[hi] - v[lo]);
  };
  return {at(0.025), at(0.975)};
}

}  // namespace recbandit::bandits
