// FactorModel: a trained embedding model (user and item factors, id maps,
// optional item biases, manifest) and its crash-safe on-disk artifact.
#ifndef RECBANDIT_RANKING_FACTOR_MODEL_H_
#define RECBANDIT_RANKING_FACTOR_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/model.pb.h"
#include "ranking/interactions.h"

namespace recbandit::ranking {

// Immutable after construction. Factors are float32, row-major n x d.
// Score(u, i) = <user_u, item_i> (+ item_bias_i when present).
//
//   ASSIGN_OR_RETURN(FactorModel m, FactorModel::Load("models/movies/3"));
//   float s = m.Score(m.users().Find("u42"), m.items().Find("i7"));
//
// Thread-safe for concurrent reads.
class FactorModel {
 public:
  // Returns a model, or INVALID_ARGUMENT when shapes disagree: user_factors
  // must hold users.size() * factors floats, item_factors items.size() *
  // factors, item_bias either nothing or items.size(). `manifest` has its
  // factors / counts / has_item_bias fields overwritten to match. When
  // `user_items` (users x items) is given, the model keeps each user's seen
  // items (for --exclude_seen) and the item popularity (cold-start fallback).
  static absl::StatusOr<FactorModel> Create(IdMap users, IdMap items, int32_t factors,
                                            std::vector<float> user_factors,
                                            std::vector<float> item_factors,
                                            std::vector<float> item_bias,
                                            ModelManifest manifest,
                                            const CsrMatrix* user_items = nullptr);

  // Writes the model to directory `dir` (created or replaced): files go to a
  // sibling temp dir, are fsynced with their CRC-32C in `manifest` (written
  // last), then the temp dir is renamed onto `dir`.
  absl::Status Save(const std::string& dir) const;
  // Returns the model in `dir`; DATA_LOSS naming the file when a file is
  // missing, truncated, corrupt or inconsistent with the manifest.
  static absl::StatusOr<FactorModel> Load(const std::string& dir);

  // Returns the score of dense user `u` and item `i`. REQUIRES: both in range.
  float Score(int32_t u, int32_t i) const;
  absl::Span<const float> UserVector(int32_t u) const {
    return absl::MakeConstSpan(user_factors_.data() + int64_t{u} * factors_, factors_);
  }
  absl::Span<const float> ItemVector(int32_t i) const {
    return absl::MakeConstSpan(item_factors_.data() + int64_t{i} * factors_, factors_);
  }

  int32_t factors() const { return factors_; }
  int32_t num_users() const { return users_.size(); }
  int32_t num_items() const { return items_.size(); }
  const IdMap& users() const { return users_; }
  const IdMap& items() const { return items_; }
  const std::vector<float>& user_factors() const { return user_factors_; }
  const std::vector<float>& item_factors() const { return item_factors_; }
  // Empty when the model has no item bias.
  const std::vector<float>& item_bias() const { return item_bias_; }
  const ModelManifest& manifest() const { return manifest_; }
  // For fields decided after the model is made (validation results); Save
  // writes it, its `files` recomputed.
  ModelManifest* mutable_manifest() { return &manifest_; }
  // Returns user u's training items, ascending (empty without interactions).
  absl::Span<const int32_t> SeenItems(int32_t u) const;
  // Returns the bytes the model holds (factors, id maps, seen items).
  int64_t MemoryBytes() const;
  // Per-item share of training interactions; empty without interactions.
  const std::vector<float>& item_popularity() const { return item_popularity_; }

 private:
  FactorModel() = default;
  IdMap users_;
  IdMap items_;
  int32_t factors_ = 0;
  std::vector<float> user_factors_;
  std::vector<float> item_factors_;
  std::vector<float> item_bias_;
  std::vector<int64_t> seen_indptr_;  // users + 1, or empty
  std::vector<int32_t> seen_items_;
  std::vector<float> item_popularity_;
  ModelManifest manifest_;
};

// Returns the lower-case name of `algo` ("als", "bpr", "popularity").
std::string AlgorithmName(Algorithm algo);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_FACTOR_MODEL_H_
