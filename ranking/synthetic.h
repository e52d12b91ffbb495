// Synthetic implicit feedback with planted structure (`recbandit gen
// interactions`): users with latent tastes over item clusters, items with
// Zipf-like popularity, deterministic for a seed; plus the planted truth.
#ifndef RECBANDIT_RANKING_SYNTHETIC_H_
#define RECBANDIT_RANKING_SYNTHETIC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "ranking/interactions.h"

namespace recbandit::ranking {

// Generative model: item i belongs to one of `factors` clusters and has a
// Zipf(popularity_exponent) weight; user u has a Dirichlet(taste_concentration)
// taste over clusters and an activity level drawn log-normally. Each
// interaction picks a user by activity, then with probability 1 - noise an item
// from one of the user's clusters (by taste, then by popularity inside the
// cluster), otherwise an item by global popularity.
struct SyntheticOptions {
  int32_t users = 1000;             // >= 1
  int32_t items = 500;              // >= 1
  int64_t nnz = 20000;              // interactions (lines) to draw, >= 1
  int32_t factors = 8;              // latent clusters, 1..items
  uint64_t seed = 1;
  double popularity_exponent = 0.8; // Zipf exponent of item popularity, >= 0
  double taste_concentration = 0.2; // Dirichlet alpha; smaller = narrower tastes
  double noise = 0.1;               // probability of a popularity-only draw, 0..1
  double activity_sigma = 1.0;      // log-normal sigma of user activity, >= 0
};

// The planted truth: enough to compute every user's true item probabilities.
// Thread-safe for concurrent reads.
struct PlantedTruth {
  int32_t factors = 0;
  double noise = 0;
  std::vector<float> taste;          // users x factors, row-major
  std::vector<int32_t> item_cluster; // items
  std::vector<double> in_cluster;    // P(item | its cluster)
  std::vector<double> global;        // P(item) under global popularity

  int32_t num_users() const {
    return factors > 0 ? static_cast<int32_t>(taste.size() / factors) : 0;
  }
  int32_t num_items() const { return static_cast<int32_t>(item_cluster.size()); }
  // Returns P(item | user) of the generative model.
  double Probability(int32_t user, int32_t item) const;
  // Returns the `k` items with the highest true probability for `user`,
  // skipping those in `exclude` (sorted ascending), best first.
  std::vector<int32_t> TopItems(int32_t user, int32_t k,
                                absl::Span<const int32_t> exclude) const;
};

// A generated data set: users are named "u<index>", items "i<index>"; dense
// ids in `log` are NOT the indices (they follow first appearance), so map
// through the names. Timestamps increase with the draw index.
struct SyntheticData {
  InteractionLog log;
  PlantedTruth truth;
};

// Returns generated data, or INVALID_ARGUMENT naming the bad option.
absl::StatusOr<SyntheticData> GenerateInteractions(const SyntheticOptions& options);

// Writes/reads the truth as CSV rows: "factors,<k>,<noise>", then
// "user,<index>,<c0>,<c1>,..." and "item,<index>,<cluster>,<in_cluster>,<global>".
absl::Status WritePlantedTruth(const std::string& path, const PlantedTruth& truth);
absl::StatusOr<PlantedTruth> LoadPlantedTruth(const std::string& path);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_SYNTHETIC_H_
