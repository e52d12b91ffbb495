// Interleaving against an A/B split in simulation: a planted position-based
// click model (item attractiveness x position examination) with two rankers,
// B a noisier copy of A, and the error rate of each way of choosing between
// them after N impressions, estimated over seeded repetitions.
#ifndef RECBANDIT_BANDITS_SIM_INTERLEAVING_SIMULATION_H_
#define RECBANDIT_BANDITS_SIM_INTERLEAVING_SIMULATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/core/random.h"

namespace recbandit::bandits {

// The planted world. Each impression is one query drawn uniformly; a query
// has `items` candidates whose click probability at 0-based position k is
// p = attractiveness(item) * examination(k), the same for every user by
// default. With activity_shape > 0, users differ in how much they click: the
// impression's user has an activity m ~ Gamma(activity_shape) / activity_shape
// (mean 1, variance 1 / activity_shape) and clicks with probability
// 1 - (1 - p)^m (m = 1 is the plain model; more active users click more on
// every item alike).
struct PbmWorldOptions {
  // Distinct queries (each with its own attractiveness). 1..100000.
  int32_t queries = 100;
  // Candidates per query. slate_size..100000.
  int32_t items = 200;
  // Positions shown per impression. 1..100.
  int32_t slate_size = 10;
  // attractiveness = sigmoid(logit_mean + logit_sd * N(0, 1)), per item and
  // query. The defaults give a median of 0.03 and a best of about 0.5 among
  // 200 items. logit_sd >= 0.
  double logit_mean = -3.5;
  double logit_sd = 1.5;
  // examination(k) = 1 / (k + 1)^examination_decay. >= 0.
  double examination_decay = 1.0;
  // Ranker A sorts the candidates by their true logit + N(0, a_noise_sd^2);
  // ranker B by A's score + N(0, b_extra_noise_sd^2): B is A with noise.
  // Both >= 0.
  double a_noise_sd = 1.0;
  double b_extra_noise_sd = 0.5;
  // Shape of the users' activity distribution; 0: all users alike. >= 0.
  double activity_shape = 0;
  uint64_t seed = 1;
};

// A planted world: attractiveness, examination and both rankers' top
// slate_size per query, fixed at creation. Thread-safe (immutable).
class PbmWorld {
 public:
  // Returns the world `options` and its seed describe. INVALID_ARGUMENT for
  // an option out of its range.
  static absl::StatusOr<PbmWorld> Create(const PbmWorldOptions& options);

  const PbmWorldOptions& options() const { return options_; }
  int32_t queries() const { return options_.queries; }
  int32_t slate_size() const { return options_.slate_size; }
  // Returns ranker A's (B's) best slate_size candidates for query q, best
  // first. REQUIRES: 0 <= q < queries().
  absl::Span<const int32_t> TopA(int32_t q) const;
  absl::Span<const int32_t> TopB(int32_t q) const;
  // Returns the expected clicks per impression of ranker A's (B's) slate,
  // averaged over the queries and users (exact, from the model: with the
  // activity, E[1 - (1 - p)^m] = 1 - (1 + lambda / shape)^-shape for
  // lambda = -ln(1 - p)).
  double ExpectedClicksA() const { return expected_clicks_a_; }
  double ExpectedClicksB() const { return expected_clicks_b_; }
  // Returns the mean share of A's top slate_size that is also in B's.
  double TopOverlap() const { return top_overlap_; }
  // Returns a one-line description of the world: options and the figures above.
  std::string Describe() const;

  // Writes into `clicked` the 0-based positions of `slate` (item ids of
  // query q, display order) clicked in one impression: each independently
  // with probability attractiveness x examination (adjusted for one activity
  // draw when activity_shape > 0), one rng.Uniform() per position. REQUIRES: slate.size() <= slate_size(), ids in [0, items).
  void Click(int32_t q, absl::Span<const int32_t> slate, Rng& rng,
             std::vector<int32_t>* clicked) const;

 private:
  explicit PbmWorld(const PbmWorldOptions& options) : options_(options) {}
  // Returns E[click] for base probability p over the users' activity.
  double ExpectedClick(double p) const;

  PbmWorldOptions options_;
  std::vector<double> attractiveness_;  // queries x items, row-major
  std::vector<double> examination_;     // slate_size
  std::vector<int32_t> top_a_;          // queries x slate_size
  std::vector<int32_t> top_b_;
  double expected_clicks_a_ = 0;
  double expected_clicks_b_ = 0;
  double top_overlap_ = 0;
};

// How the better ranker is chosen after N impressions.
enum class ComparisonMethod {
  // Every impression shows TeamDraftInterleave(TopA, TopB); pick the ranker
  // whose team won more impressions (CreditClicks).
  kInterleaving,
  // Impressions alternate A, B, A, ... (N/2 each); pick the ranker with more
  // clicks, i.e. the higher clicks per impression.
  kAbSplit,
};

// Returns, per budget N in `budgets`, the share of `repetitions` seeded runs
// in which `method` picked the ranker with the lower expected clicks per
// impression (a tie counts 1/2). Run r streams impressions from
// Rng(Mix64(seed + r)) and is scored at each budget on its way. All runs
// advance together, and stop after the first budget whose error rate is at
// most `stop_at_error` (the result then has fewer entries than `budgets`;
// a negative value never stops early). INVALID_ARGUMENT: empty or
// non-increasing budgets, a budget < 2 or odd, repetitions < 1, or a world
// whose rankers have equal expected clicks.
absl::StatusOr<std::vector<double>> ComparisonErrorRates(const PbmWorld& world,
                                                         ComparisonMethod method,
                                                         absl::Span<const int64_t> budgets,
                                                         int32_t repetitions, uint64_t seed,
                                                         double stop_at_error = -1);

// Returns the budget at which `error_rates` (one per ascending budget) first
// falls to `target` or below, interpolated linearly in log N between the two
// budgets around the crossing; budgets[0] when the first is already there.
// NOT_FOUND when no budget reaches it. INVALID_ARGUMENT: sizes differ or
// are 0.
absl::StatusOr<double> BudgetForErrorRate(absl::Span<const int64_t> budgets,
                                          absl::Span<const double> error_rates, double target);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_SIM_INTERLEAVING_SIMULATION_H_
