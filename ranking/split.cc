// Train/test splits: random, leave-last-out and user holdout.
#include "ranking/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "proto/core/names.h"
#include "proto/core/random.h"

namespace recbandit::ranking {

absl::StatusOr<SplitScheme> ParseSplitScheme(const std::string& name) {
  if (name == "random") return SplitScheme::kRandom;
  if (name == "leave_last_out") return SplitScheme::kLeaveLastOut;
  if (name == "user_holdout") return SplitScheme::kUserHoldout;
  return absl::InvalidArgumentError(absl::StrCat(
      "--scheme must be random, leave_last_out or user_holdout, got ", Quote(name)));
}

absl::StatusOr<SplitResult> SplitInteractions(const InteractionLog& log,
                                              const SplitOptions& options) {
  if (options.scheme != SplitScheme::kLeaveLastOut &&
      !(options.test_fraction > 0 && options.test_fraction < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--test_fraction must be in (0, 1), got ", options.test_fraction));
  }
  if (!(options.holdout_newest_fraction > 0 && options.holdout_newest_fraction < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "holdout_newest_fraction must be in (0, 1), got ",
        options.holdout_newest_fraction));
  }
  const int64_t n = log.size();
  std::vector<char> is_test(n, 0);
  switch (options.scheme) {
    case SplitScheme::kRandom: {
      Rng rng(options.seed);
      for (int64_t k = 0; k < n; ++k) is_test[k] = rng.Uniform() < options.test_fraction;
      break;
    }
    case SplitScheme::kLeaveLastOut: {
      std::vector<int64_t> last(log.users.size(), -1);
      std::vector<int32_t> count(log.users.size(), 0);
      for (int64_t k = 0; k < n; ++k) {
        const int32_t u = log.user[k];
        ++count[u];
        if (last[u] < 0 || log.timestamp[k] >= log.timestamp[last[u]]) last[u] = k;
      }
      for (int32_t u = 0; u < log.users.size(); ++u) {
        if (count[u] >= 2) is_test[last[u]] = 1;
      }
      break;
    }
    case SplitScheme::kUserHoldout: {
      // A user is held out when a seeded hash of its id falls below the fraction.
      std::vector<char> held(log.users.size());
      const double scale = 18446744073709551616.0;  // 2^64
      for (int32_t u = 0; u < log.users.size(); ++u) {
        const uint64_t h = StableHash64(log.users.Name(u), options.seed);
        held[u] = static_cast<double>(h) < options.test_fraction * scale;
      }
      std::vector<std::vector<int64_t>> rows(log.users.size());
      for (int64_t k = 0; k < n; ++k) {
        if (held[log.user[k]]) rows[log.user[k]].push_back(k);
      }
      for (auto& r : rows) {
        if (r.size() < 2) continue;
        std::stable_sort(r.begin(), r.end(), [&](int64_t a, int64_t b) {
          return log.timestamp[a] < log.timestamp[b];
        });
        const size_t test_count = std::max<size_t>(
            1, static_cast<size_t>(std::floor(r.size() * options.holdout_newest_fraction)));
        for (size_t j = r.size() - test_count; j < r.size(); ++j) is_test[r[j]] = 1;
      }
      break;
    }
  }
  SplitResult result;
  for (int64_t k = 0; k < n; ++k) (is_test[k] ? result.test : result.train).push_back(k);
  return result;
}

}  // namespace recbandit::ranking
