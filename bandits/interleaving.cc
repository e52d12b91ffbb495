// Team-draft merge, click credit and the preference statistics (see
// interleaving.h).
#include "bandits/interleaving.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "bandits/explore.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {
namespace {

// z for a two-sided 95% interval.
constexpr double kZ95 = 1.959963984540054;
constexpr double kCoin[2] = {0.5, 0.5};

absl::string_view KeyOf(const std::string& id) { return id; }
int32_t KeyOf(int32_t id) { return id; }
std::string Describe(const std::string& id) { return Quote(id); }
std::string Describe(int32_t id) { return absl::StrCat(id); }

// Rankings and slates up to this long are searched linearly: no hash table
// is built for a serving-sized slate.
constexpr size_t kLinearSearchMax = 16;

absl::Status DuplicateError(absl::string_view field, const std::string& item, size_t first,
                            size_t second) {
  return absl::InvalidArgumentError(absl::StrCat(field, " lists item ", item, " twice (ranks ",
                                                 first, " and ", second, "; 0-based)"));
}

template <typename Id>
absl::Status CheckDistinct(absl::Span<const Id> ranking, absl::string_view field) {
  if (ranking.size() <= kLinearSearchMax) {
    for (size_t r = 1; r < ranking.size(); ++r) {
      for (size_t s = 0; s < r; ++s) {
        if (ranking[s] == ranking[r]) return DuplicateError(field, Describe(ranking[r]), s, r);
      }
    }
    return absl::OkStatus();
  }
  using Key = decltype(KeyOf(ranking[0]));
  absl::flat_hash_map<Key, size_t> first_rank;
  first_rank.reserve(ranking.size());
  for (size_t r = 0; r < ranking.size(); ++r) {
    const auto [it, inserted] = first_rank.emplace(KeyOf(ranking[r]), r);
    if (!inserted) return DuplicateError(field, Describe(ranking[r]), it->second, r);
  }
  return absl::OkStatus();
}

template <typename Id>
absl::StatusOr<TeamDraftSlate<Id>> Interleave(absl::Span<const Id> ranking_a,
                                              absl::Span<const Id> ranking_b, int32_t size,
                                              uint64_t seed) {
  if (size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("size must be >= 1, got ", size));
  }
  RETURN_IF_ERROR(CheckDistinct(ranking_a, "ranking_a"));
  RETURN_IF_ERROR(CheckDistinct(ranking_b, "ranking_b"));
  const absl::Span<const Id> rankings[2] = {ranking_a, ranking_b};
  const size_t cap =
      std::min(static_cast<size_t>(size), ranking_a.size() + ranking_b.size());
  TeamDraftSlate<Id> slate;
  slate.items.reserve(cap);
  slate.teams.reserve(cap);
  slate.team_probabilities.reserve(cap);
  using Key = decltype(KeyOf(ranking_a[0]));
  const bool linear = cap <= kLinearSearchMax;
  absl::flat_hash_set<Key> in_slate;
  if (!linear) in_slate.reserve(cap);
  auto taken = [&](const Id& item) {
    if (!linear) return in_slate.contains(KeyOf(item));
    return std::find(slate.items.begin(), slate.items.end(), item) != slate.items.end();
  };
  size_t cursor[2] = {0, 0};
  int32_t picks[2] = {0, 0};
  // True when team t has an item not yet in the slate (cursor[t] then points
  // at its highest-ranked one).
  auto can_pick = [&](int t) {
    while (cursor[t] < rankings[t].size() && taken(rankings[t][cursor[t]])) {
      ++cursor[t];
    }
    return cursor[t] < rankings[t].size();
  };
  Rng rng(seed);
  while (slate.items.size() < static_cast<size_t>(size)) {
    const bool a_can = can_pick(0);
    const bool b_can = can_pick(1);
    if (!a_can && !b_can) break;
    int team;
    double probability = 1.0;
    if (!a_can || !b_can) {
      team = a_can ? 0 : 1;  // one ranking exhausted: the other continues
    } else if (picks[0] != picks[1]) {
      team = picks[0] < picks[1] ? 0 : 1;
    } else {
      team = SampleFromPmf(kCoin, rng);
      probability = 0.5;
    }
    const Id& item = rankings[team][cursor[team]];
    if (!linear) in_slate.insert(KeyOf(item));
    slate.items.push_back(item);
    slate.teams.push_back(team == 0 ? Team::kA : Team::kB);
    slate.team_probabilities.push_back(probability);
    ++picks[team];
    ++cursor[team];
  }
  return slate;
}

// Returns the restricted maximum-likelihood variance p_a + p_b - delta^2 of
// one impression's score (+1, -1, 0) under p_a - p_b = delta, for observed
// shares (pa, pb, pt) of A wins, B wins and ties. The restricted p_b = q
// solves 2 q^2 - b q - c = 0 (the larger root, clipped to the feasible range
// [max(0, -delta), (1 - delta) / 2]); derived from d/dq of the trinomial
// log-likelihood.
double RestrictedVariance(double pa, double pb, double pt, double delta) {
  const double b = pa * (1 - delta) + pb * (1 - 3 * delta) - 2 * pt * delta;
  const double c = pb * delta * (1 - delta);
  double q = (b + std::sqrt(std::max(0.0, b * b + 8 * c))) / 4;
  q = std::clamp(q, std::max(0.0, -delta), std::max(std::max(0.0, -delta), (1 - delta) / 2));
  return std::max(0.0, 2 * q + delta - delta * delta);
}

// Returns P(X <= k) for X ~ Binomial(n, 1/2), summing terms downward from k
// until they stop mattering (O(sqrt(n)) terms near the middle).
double BinomialHalfCdf(int64_t k, int64_t n) {
  const double nd = static_cast<double>(n);
  double term = std::exp(std::lgamma(nd + 1) - std::lgamma(static_cast<double>(k) + 1) -
                         std::lgamma(nd - static_cast<double>(k) + 1) - nd * std::log(2.0));
  double sum = 0;
  for (int64_t i = k; i >= 0; --i) {
    sum += term;
    if (term < sum * 1e-17) break;
    term *= static_cast<double>(i) / (nd - static_cast<double>(i) + 1);
  }
  return sum;
}

}  // namespace

absl::StatusOr<TeamDraftSlate<std::string>> TeamDraftInterleave(
    absl::Span<const std::string> ranking_a, absl::Span<const std::string> ranking_b,
    int32_t size, uint64_t seed) {
  return Interleave(ranking_a, ranking_b, size, seed);
}

absl::StatusOr<TeamDraftSlate<int32_t>> TeamDraftInterleave(absl::Span<const int32_t> ranking_a,
                                                            absl::Span<const int32_t> ranking_b,
                                                            int32_t size, uint64_t seed) {
  return Interleave(ranking_a, ranking_b, size, seed);
}

absl::StatusOr<ImpressionOutcome> CreditClicks(absl::Span<const Team> teams,
                                               absl::Span<const int32_t> clicked_positions) {
  const int32_t n = static_cast<int32_t>(teams.size());
  for (int32_t p : clicked_positions) {
    if (p < 0 || p >= n) {
      return absl::InvalidArgumentError(absl::StrCat(
          "clicked position ", p, " is outside the slate of ", n, " positions (0-based)"));
    }
  }
  int32_t margin = 0;  // clicks on A's items minus clicks on B's
  for (size_t i = 0; i < clicked_positions.size(); ++i) {
    const int32_t p = clicked_positions[i];
    if (std::find(clicked_positions.begin(), clicked_positions.begin() + i, p) !=
        clicked_positions.begin() + i) {
      continue;  // counted once
    }
    margin += teams[p] == Team::kA ? 1 : -1;
  }
  return margin > 0 ? ImpressionOutcome::kAWins
                    : margin < 0 ? ImpressionOutcome::kBWins : ImpressionOutcome::kTie;
}

void InterleavingCounts::Add(ImpressionOutcome outcome) {
  switch (outcome) {
    case ImpressionOutcome::kAWins:
      ++wins_a;
      break;
    case ImpressionOutcome::kBWins:
      ++wins_b;
      break;
    case ImpressionOutcome::kTie:
      ++ties;
      break;
  }
}

absl::StatusOr<PreferenceEstimate> InterleavingPreference(const InterleavingCounts& counts) {
  constexpr int64_t kMaxTotal = int64_t{1} << 62;
  if (counts.wins_a < 0 || counts.wins_b < 0 || counts.ties < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "counts must be >= 0, got wins_a=", counts.wins_a, " wins_b=", counts.wins_b,
        " ties=", counts.ties));
  }
  if (counts.wins_a > kMaxTotal - counts.wins_b ||
      counts.wins_a + counts.wins_b > kMaxTotal - counts.ties) {
    return absl::InvalidArgumentError("counts total above 2^62");
  }
  PreferenceEstimate e;
  e.impressions = counts.wins_a + counts.wins_b + counts.ties;
  if (e.impressions == 0) return e;
  const double n = static_cast<double>(e.impressions);
  const double pa = static_cast<double>(counts.wins_a) / n;
  const double pb = static_cast<double>(counts.wins_b) / n;
  const double pt = static_cast<double>(counts.ties) / n;
  e.delta = pa - pb;

  // Score interval: the deltas whose score statistic n (D - delta)^2 /
  // v(delta) stays within z^2; found on each side of D by bisection.
  const double z2 = kZ95 * kZ95;
  auto outside = [&](double delta) {
    const double gap = e.delta - delta;
    return n * gap * gap > z2 * RestrictedVariance(pa, pb, pt, delta);
  };
  double lo = -1, hi = e.delta;  // outside(lo) or lo == -1; !outside(hi)
  if (outside(-1.0)) {
    for (int i = 0; i < 100; ++i) {
      const double mid = 0.5 * (lo + hi);
      (outside(mid) ? lo : hi) = mid;
    }
    e.delta_low = hi;
  }
  lo = e.delta, hi = 1;
  if (outside(1.0)) {
    for (int i = 0; i < 100; ++i) {
      const double mid = 0.5 * (lo + hi);
      (outside(mid) ? hi : lo) = mid;
    }
    e.delta_high = lo;
  }
  e.delta_low = std::max(-1.0, std::min(e.delta_low, e.delta));
  e.delta_high = std::min(1.0, std::max(e.delta_high, e.delta));

  const int64_t decided = counts.wins_a + counts.wins_b;
  if (decided > 0) {
    const double d = static_cast<double>(decided);
    const double s = static_cast<double>(counts.wins_a) / d;
    const double denom = 1 + z2 / d;
    const double center = (s + z2 / (2 * d)) / denom;
    const double half = kZ95 / denom * std::sqrt(s * (1 - s) / d + z2 / (4 * d * d));
    e.win_share_a = s;
    e.win_share_low = std::max(0.0, center - half);
    e.win_share_high = std::min(1.0, center + half);
    if (counts.wins_a != counts.wins_b) {
      const int64_t fewer = std::min(counts.wins_a, counts.wins_b);
      e.sign_test_p_value = std::min(1.0, 2 * BinomialHalfCdf(fewer, decided));
    }
  }
  return e;
}

}  // namespace recbandit::bandits
