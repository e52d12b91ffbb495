// FactorModel: a trained embedding model (user and item factors, id maps,
// optional item biases, manifest) and its crash-safe on-disk artifact.
#ifndef RECBANDIT_RANKING_FACTOR_MODEL_H_
#define RECBANDIT_RANKING_FACTOR_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/model.pb.h"
#include "ranking/interactions.h"

namespace recbandit::ranking {

// Immutable after construction. Factors are float32, row-major n x d. A
// loaded model's arrays are memory-mapped from its files (checksummed in
// place, never copied); copies of a model share them.
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
  // Returns the model in `dir`, its binary arrays mapped (ArtifactFile; read
  // when mapping is off) and verified against the manifest's CRC-32C on the
  // mapped bytes; DATA_LOSS naming the file when a file is missing,
  // truncated, corrupt or inconsistent with the manifest.
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
  absl::Span<const float> user_factors() const { return user_factors_.span(); }
  absl::Span<const float> item_factors() const { return item_factors_.span(); }
  // Empty when the model has no item bias.
  absl::Span<const float> item_bias() const { return item_bias_.span(); }
  const ModelManifest& manifest() const { return manifest_; }
  // For fields decided after the model is made (validation results); Save
  // writes it, its `files` recomputed.
  ModelManifest* mutable_manifest() { return &manifest_; }
  // Returns user u's training items, ascending (empty without interactions).
  absl::Span<const int32_t> SeenItems(int32_t u) const;
  // Returns the bytes the model holds (factors, id maps, seen items).
  int64_t MemoryBytes() const;
  // Per-item share of training interactions; empty without interactions.
  absl::Span<const float> item_popularity() const { return item_popularity_.span(); }

 private:
  // An immutable array owned by a vector or by a mapped file; copies share
  // the owner, so the data pointer stays valid in every copy.
  template <typename T>
  class Array {
   public:
    Array() = default;
    explicit Array(std::vector<T> v) {
      auto owned = std::make_shared<const std::vector<T>>(std::move(v));
      data_ = owned->data();
      size_ = owned->size();
      owner_ = std::move(owned);
    }
    Array(std::shared_ptr<const void> owner, const T* data, size_t size)
        : owner_(std::move(owner)), data_(data), size_(size) {}
    absl::Span<const T> span() const { return absl::MakeConstSpan(data_, size_); }
    const T* data() const { return data_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const T& operator[](size_t i) const { return data_[i]; }

   private:
    std::shared_ptr<const void> owner_;
    const T* data_ = nullptr;
    size_t size_ = 0;
  };

  FactorModel() = default;
  IdMap users_;
  IdMap items_;
  int32_t factors_ = 0;
  Array<float> user_factors_;
  Array<float> item_factors_;
  Array<float> item_bias_;
  Array<int64_t> seen_indptr_;  // users + 1, or empty
  Array<int32_t> seen_items_;
  Array<float> item_popularity_;
  ModelManifest manifest_;
};

// Returns the lower-case name of `algo` ("als", "bpr", "popularity",
// "imported").
std::string AlgorithmName(Algorithm algo);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_FACTOR_MODEL_H_
