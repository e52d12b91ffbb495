// The Poisson bootstrap shared by the OPE estimators (bandits/ope/ope.cc and
// bandits/ope/slate_ope.cc): per-resample weighted sums of per-round columns,
// and the percentile interval of a set of replicates.
#ifndef RECBANDIT_BANDITS_OPE_BOOTSTRAP_H_
#define RECBANDIT_BANDITS_OPE_BOOTSTRAP_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "proto/core/progress.h"

namespace recbandit::bandits {

// Weighted column sums of every resample. Thread-compatible.
struct BootstrapSums {
  int32_t resamples = 0;
  size_t columns = 0;
  // resamples x columns, row-major: sum over rounds of k_i * column[i], where
  // k_i ~ Poisson(1) is round i's multiplicity in that resample.
  std::vector<double> sums;
  // Per resample: sum of k_i (the resample's size).
  std::vector<double> counts;

  double Sum(int32_t resample, size_t column) const {
    return sums[static_cast<size_t>(resample) * columns + column];
  }
};

// Returns the sums of `resamples` Poisson-bootstrap resamples of n rounds:
// every round is counted Poisson(1) times, the same draws for every column.
// Each resample has its own generator seeded from (seed, resample number) and
// rounds are processed in cache-sized blocks, so the result depends on
// neither the block size nor the number of columns. `columns` point at n
// doubles each (borrowed for the call). `progress` (may be empty) hears
// (rounds resampled, n) on the calling thread.
BootstrapSums PoissonBootstrapSums(absl::Span<const double* const> columns, int64_t n,
                                   int32_t resamples, uint64_t seed,
                                   const ProgressCallback& progress);

// Returns the 2.5% and 97.5% percentiles of `values` (linear interpolation
// between order statistics); sorts them. REQUIRES: !values->empty().
std::pair<double, double> PercentileInterval95(std::vector<double>* values);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_BOOTSTRAP_H_
