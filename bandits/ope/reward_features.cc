// The reward model's features through the serving feature path
// (bandits/ope/reward_features.h).
#include "bandits/ope/reward_features.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace recbandit::bandits {

RewardFeatureBuilder::RewardFeatureBuilder(const FeatureSpace& space) : space_(space) {}

absl::Status RewardFeatureBuilder::Add(const Context& context) {
  if (absl::Status s = HashContext(space_, context, &scratch_); !s.ok()) return s;
  for (float v : context.dense()) dense_.push_back(v);
  sparse_.insert(sparse_.end(), scratch_.begin(), scratch_.end());
  offsets_.push_back(static_cast<int64_t>(sparse_.size()));
  ++rows_;
  return absl::OkStatus();
}

absl::Status RewardFeatureBuilder::Finish(int32_t* dim, std::vector<float>* features) {
  slots_.clear();
  slots_.reserve(sparse_.size());
  for (const HashedFeature& f : sparse_) slots_.push_back(f.slot);
  std::sort(slots_.begin(), slots_.end());
  slots_.erase(std::unique(slots_.begin(), slots_.end()), slots_.end());
  const int32_t d = space_.dense_dim;
  const int64_t width = d + static_cast<int64_t>(slots_.size());
  if (static_cast<double>(rows_) * width > static_cast<double>(kMaxRewardFeatureValues)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "reward model features too large: ", rows_, " rounds x ", width, " features (", d,
        " dense + ", slots_.size(), " distinct hashed sparse slots of 2^", space_.hash_bits,
        ") exceed ", kMaxRewardFeatureValues,
        " values; evaluate a shorter time range or with ips/snips only"));
  }
  // Sparse column of each used slot: its rank among the used ones.
  std::vector<int32_t> column(space_.hash_bits > 0 ? (size_t{1} << space_.hash_bits) : 0, -1);
  for (size_t j = 0; j < slots_.size(); ++j) column[slots_[j]] = static_cast<int32_t>(j);
  features->assign(static_cast<size_t>(rows_ * width), 0.0f);
  // Colliding features of a row add in double, as in BuildDecisionInput,
  // then round once to float.
  std::vector<double> sum(slots_.size(), 0.0);
  for (int64_t i = 0; i < rows_; ++i) {
    float* row = features->data() + i * width;
    std::copy_n(dense_.data() + i * d, d, row);
    const HashedFeature* begin = sparse_.data() + offsets_[i];
    const HashedFeature* end = sparse_.data() + offsets_[i + 1];
    for (const HashedFeature* f = begin; f != end; ++f) sum[column[f->slot]] += f->value;
    for (const HashedFeature* f = begin; f != end; ++f) {
      const int32_t j = column[f->slot];
      row[d + j] = static_cast<float>(sum[j]);
    }
    for (const HashedFeature* f = begin; f != end; ++f) sum[column[f->slot]] = 0;
  }
  *dim = static_cast<int32_t>(width);
  rows_ = 0;
  std::vector<float>().swap(dense_);
  offsets_.assign(1, 0);
  std::vector<HashedFeature>().swap(sparse_);
  return absl::OkStatus();
}

}  // namespace recbandit::bandits
