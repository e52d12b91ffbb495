// ServingModel and ModelSlot.
#include "services/serving/serving_model.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {

FilteredRows FilteredRows::FromAllowed(std::vector<int32_t> allowed, int32_t n,
                                       size_t scan_rows) {
  FilteredRows rows;
  if (allowed.size() <= scan_rows) {
    rows.scan = true;
    rows.allowed = std::move(allowed);
    return rows;
  }
  rows.excluded.reserve(n - allowed.size());
  size_t j = 0;
  for (int32_t i = 0; i < n; ++i) {
    if (j < allowed.size() && allowed[j] == i) {
      ++j;
    } else {
      rows.excluded.push_back(i);
    }
  }
  return rows;
}

bool FilteredRows::Allows(int32_t row) const {
  return scan ? std::binary_search(allowed.begin(), allowed.end(), row)
              : !std::binary_search(excluded.begin(), excluded.end(), row);
}

void FilteredRows::AddExcludedTo(std::vector<int32_t>* exclude) const {
  if (excluded.empty()) return;
  std::vector<int32_t> merged;
  merged.reserve(exclude->size() + excluded.size());
  std::merge(exclude->begin(), exclude->end(), excluded.begin(), excluded.end(),
             std::back_inserter(merged));
  *exclude = std::move(merged);
}

ServingModel::ServingModel(ranking::FactorModel model,
                           std::unique_ptr<retrieval::ItemIndex> index, std::string name,
                           int64_t version, int64_t index_bytes,
                           ranking::EventWeighting weighting)
    : model_(std::move(model)),
      index_(std::move(index)),
      weighting_(std::move(weighting)),
      name_(std::move(name)),
      version_(version) {
  if (index_bytes < 0) {  // an index built here: its vectors (a copy), plus HNSW's links
    index_bytes = index_->size() * int64_t{index_->dim()} * 4;
    if (index_->factory().rfind("HNSW", 0) == 0) index_bytes += index_->size() * 64 * 4;
  }
  memory_bytes_ = model_.MemoryBytes() + index_bytes;
  fold_in_ = std::make_unique<ranking::FoldIn>(model_, ranking::FoldInOptionsFor(model_));
  by_popularity_.resize(model_.num_items());
  std::iota(by_popularity_.begin(), by_popularity_.end(), 0);
  absl::Span<const float> pop = model_.item_popularity();
  if (!pop.empty()) {
    std::stable_sort(by_popularity_.begin(), by_popularity_.end(),
                     [&](int32_t a, int32_t b) { return pop[a] > pop[b]; });
  }
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ServingModel::Create(
    ranking::FactorModel model, std::unique_ptr<retrieval::ItemIndex> index,
    std::string name, int64_t version, int64_t index_bytes) {
  if (index == nullptr) return absl::InvalidArgumentError("null item index");
  if (index->size() != model.num_items() || index->dim() != model.factors()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "item index has ", index->size(), " vectors of dim ", index->dim(), ", model has ",
        model.num_items(), " items of dim ", model.factors()));
  }
  absl::StatusOr<ranking::EventWeighting> weighting =
      ranking::EventWeighting::FromParams(model.manifest().params());
  if (!weighting.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model manifest: ", weighting.status().message()));
  }
  return std::shared_ptr<const ServingModel>(
      new ServingModel(std::move(model), std::move(index), std::move(name), version,
                       index_bytes, *std::move(weighting)));
}

absl::StatusOr<std::shared_ptr<const ServingModel>> ServingModel::Load(
    const std::string& dir, const std::string& default_index, const std::string& name,
    int64_t version) {
  ASSIGN_OR_RETURN(ranking::FactorModel model, ranking::FactorModel::Load(dir));
  const std::string index_path = absl::StrCat(dir, "/", kItemIndexFile);
  std::unique_ptr<retrieval::ItemIndex> index;
  int64_t index_bytes = -1;
  if (PathExists(index_path)) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(index_path, ec);
    if (!ec) index_bytes = static_cast<int64_t>(size);
    ASSIGN_OR_RETURN(index, retrieval::LoadItemIndex(index_path, model.item_factors(),
                                                     model.factors()));
  } else {
    ASSIGN_OR_RETURN(index, retrieval::BuildItemIndex(default_index, model.item_factors(),
                                                      model.factors(), {}));
  }
  std::string label = name.empty() ? model.manifest().name() : name;
  const int64_t v = version > 0 ? version : model.manifest().version();
  return Create(std::move(model), std::move(index), std::move(label), v, index_bytes);
}

float ServingModel::ExactScore(absl::Span<const float> user, int32_t item) const {
  absl::Span<const float> v = model_.ItemVector(item);
  float s = 0;
  for (int32_t j = 0; j < model_.factors(); ++j) s += user[j] * v[j];
  if (!model_.item_bias().empty()) s += model_.item_bias()[item];
  return s;
}

std::vector<std::pair<int32_t, float>> ServingModel::WeighEvents(
    absl::Span<const RecentEvent> events) const {
  std::vector<std::pair<int32_t, float>> out;
  for (const RecentEvent& e : events) {
    const int32_t i = model_.items().Find(e.item);
    if (i < 0) continue;
    const float w = weighting_.EventWeight(e.weight, e.event_type);
    if (w > 0) out.emplace_back(i, static_cast<float>(e.count) * w);
  }
  // One entry per item, its weights summed in the order given.
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  size_t n = 0;
  for (size_t j = 0; j < out.size(); ++j) {
    if (n > 0 && out[n - 1].first == out[j].first) {
      out[n - 1].second += out[j].second;
    } else {
      out[n++] = out[j];
    }
  }
  out.resize(n);
  return out;
}

absl::StatusOr<std::vector<float>> ServingModel::UserVector(
    const std::string& user, const std::vector<std::string>& recent_items,
    absl::Span<const RecentEvent> recent_events) const {
  const int32_t u = model_.users().Find(user);
  // Items counting 1 each: the recent items, then the user's model items.
  std::vector<int32_t> listed;
  for (const std::string& id : recent_items) {
    const int32_t i = model_.items().Find(id);
    if (i >= 0) listed.push_back(i);
  }
  const std::vector<std::pair<int32_t, float>> events = WeighEvents(recent_events);
  if (listed.empty() && events.empty()) {
    if (u < 0) return std::vector<float>();
    absl::Span<const float> row = model_.UserVector(u);
    return std::vector<float>(row.begin(), row.end());
  }
  if (u >= 0) {
    absl::Span<const int32_t> seen = model_.SeenItems(u);
    listed.insert(listed.end(), seen.begin(), seen.end());
  }
  std::sort(listed.begin(), listed.end());
  listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
  // Merge the two sorted lists: 1 for a listed item plus its events' sum.
  std::vector<int32_t> items;
  std::vector<float> weights;
  items.reserve(listed.size() + events.size());
  weights.reserve(listed.size() + events.size());
  size_t a = 0, b = 0;
  while (a < listed.size() || b < events.size()) {
    const bool take_listed =
        a < listed.size() && (b == events.size() || listed[a] <= events[b].first);
    const bool take_event =
        b < events.size() && (a == listed.size() || events[b].first <= listed[a]);
    items.push_back(take_listed ? listed[a] : events[b].first);
    float sum = 0;
    if (take_listed) {
      sum += 1.0f;
      ++a;
    }
    if (take_event) sum += events[b++].second;
    weights.push_back(weighting_.ItemWeight(sum));
  }
  return fold_in_->UserVector(items, weights);
}

std::vector<int32_t> ServingModel::Exclusions(int32_t user,
                                              const RecommendQuery& query) const {
  std::vector<int32_t> out;
  if (query.exclude_seen) {
    if (user >= 0) {
      absl::Span<const int32_t> seen = model_.SeenItems(user);
      out.assign(seen.begin(), seen.end());
    }
    for (const std::string& id : query.recent_items) {
      const int32_t i = model_.items().Find(id);
      if (i >= 0) out.push_back(i);
    }
    for (const auto& counted : WeighEvents(query.recent_events)) out.push_back(counted.first);
  }
  for (const std::string& id : query.exclude_items) {
    const int32_t i = model_.items().Find(id);
    if (i >= 0) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

absl::StatusOr<Recommendation> ServingModel::Recommend(const RecommendQuery& query) const {
  if (query.k < 1 || query.k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("k must be in [1, 1000], got ", query.k));
  }
  if (query.candidates < 0 || query.candidates > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("candidates must be in [0, 10000], got ", query.candidates));
  }
  const int32_t u = model_.users().Find(query.user);
  std::vector<int32_t> exclude = Exclusions(u, query);
  std::shared_ptr<const FilteredRows> rows;
  if (query.filter != nullptr) rows = query.filter->Rows(*this);
  ASSIGN_OR_RETURN(std::vector<float> vec,
                   UserVector(query.user, query.recent_items, query.recent_events));
  Recommendation rec;
  if (vec.empty()) {
    // Cold user: the most popular items that are allowed.
    rec.fallback = true;
    for (int32_t i : by_popularity_) {
      if (static_cast<int32_t>(rec.items.size()) >= query.k) break;
      if (std::binary_search(exclude.begin(), exclude.end(), i)) continue;
      if (rows != nullptr && !rows->Allows(i)) continue;
      absl::Span<const float> pop = model_.item_popularity();
      rec.items.push_back({model_.items().Name(i), pop.empty() ? 0.f : pop[i]});
    }
    return rec;
  }
  if (rows != nullptr && rows->scan) return ScanAllowed(vec, *rows, exclude, query.k);
  if (rows != nullptr) rows->AddExcludedTo(&exclude);
  retrieval::SearchResult found;
  RETURN_IF_ERROR(index_->Search(vec, CandidateCount(query.k, query.candidates), exclude,
                                 query.search, &found));
  return Rescore(vec, found, query.k);
}

Recommendation ServingModel::Rescore(absl::Span<const float> user,
                                     const retrieval::SearchResult& candidates,
                                     int32_t k) const {
  // Exact rescoring with the full model (biases included), then top k.
  std::vector<std::pair<float, int32_t>> scored;
  scored.reserve(candidates.ids.size());
  for (int32_t id : candidates.ids) scored.emplace_back(ExactScore(user, id), id);
  const size_t top = std::min<size_t>(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + top, scored.end(),
                    [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first : a.second < b.second;
                    });
  Recommendation rec;
  rec.items.reserve(top);
  for (size_t j = 0; j < top; ++j) {
    rec.items.push_back({model_.items().Name(scored[j].second), scored[j].first});
  }
  return rec;
}

Recommendation ServingModel::ScanAllowed(absl::Span<const float> user,
                                         const FilteredRows& rows,
                                         absl::Span<const int32_t> exclude, int32_t k) const {
  retrieval::SearchResult all;
  all.ids.reserve(rows.allowed.size());
  for (int32_t i : rows.allowed) {
    if (!std::binary_search(exclude.begin(), exclude.end(), i)) all.ids.push_back(i);
  }
  return Rescore(user, all, k);  // exact scores of every allowed row, best k
}

absl::StatusOr<std::vector<Recommendation>> ServingModel::RecommendBatch(
    absl::Span<const int32_t> users, int32_t k, bool exclude_seen,
    const retrieval::SearchParams& search, int32_t threads, const FilteredRows* rows) const {
  if (k < 1 || k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("k must be in [1, 1000], got ", k));
  }
  std::vector<int32_t> all;
  if (users.empty()) {
    all.resize(model_.num_users());
    std::iota(all.begin(), all.end(), 0);
    users = all;
  }
  const int32_t d = model_.factors();
  std::vector<float> queries(users.size() * static_cast<size_t>(d));
  std::vector<std::vector<int32_t>> excludes(users.size());
  for (size_t q = 0; q < users.size(); ++q) {
    if (users[q] < 0 || users[q] >= model_.num_users()) {
      return absl::InvalidArgumentError(absl::StrCat("user index ", users[q], " out of range"));
    }
    absl::Span<const float> row = model_.UserVector(users[q]);
    std::copy(row.begin(), row.end(), queries.begin() + q * d);
    if (exclude_seen) {
      absl::Span<const int32_t> seen = model_.SeenItems(users[q]);
      excludes[q].assign(seen.begin(), seen.end());
    }
    if (rows != nullptr && !rows->scan) rows->AddExcludedTo(&excludes[q]);
  }
  std::vector<Recommendation> out(users.size());
  if (rows != nullptr && rows->scan) {  // few allowed rows: every one scored exactly
    for (size_t q = 0; q < users.size(); ++q) {
      out[q] = ScanAllowed(model_.UserVector(users[q]), *rows, excludes[q], k);
    }
    return out;
  }
  std::vector<retrieval::SearchResult> found;
  RETURN_IF_ERROR(index_->SearchBatch(queries, CandidateCount(k, 0), excludes, search,
                                      threads, &found));
  for (size_t q = 0; q < users.size(); ++q) {
    out[q] = Rescore(model_.UserVector(users[q]), found[q], k);
  }
  return out;
}

absl::StatusOr<Recommendation> ServingModel::Similar(const std::string& item, int32_t k,
                                                     const RowFilter* filter) const {
  if (k < 1 || k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("k must be in [1, 1000], got ", k));
  }
  const int32_t i = model_.items().Find(item);
  if (i < 0) return absl::NotFoundError(absl::StrCat("unknown item ", Quote(item)));
  absl::Span<const float> v = model_.ItemVector(i);
  std::vector<int32_t> exclude = {i};
  retrieval::SearchResult found;
  std::shared_ptr<const FilteredRows> rows;
  if (filter != nullptr) rows = filter->Rows(*this);
  if (rows != nullptr && rows->scan) {
    // Inner products of the allowed rows (as the index scores), best k.
    std::vector<std::pair<float, int32_t>> scored;
    for (int32_t r : rows->allowed) {
      if (r == i) continue;
      absl::Span<const float> w = model_.ItemVector(r);
      float s = 0;
      for (int32_t j = 0; j < model_.factors(); ++j) s += v[j] * w[j];
      scored.emplace_back(s, r);
    }
    const size_t top = std::min<size_t>(k, scored.size());
    std::partial_sort(scored.begin(), scored.begin() + top, scored.end(),
                      [](const auto& a, const auto& b) {
                        return a.first != b.first ? a.first > b.first : a.second < b.second;
                      });
    for (size_t j = 0; j < top; ++j) {
      found.ids.push_back(scored[j].second);
      found.scores.push_back(scored[j].first);
    }
  } else {
    if (rows != nullptr) {
      exclude = rows->excluded;
      exclude.insert(std::lower_bound(exclude.begin(), exclude.end(), i), i);
    }
    RETURN_IF_ERROR(index_->Search(v, k, exclude, {}, &found));
  }
  Recommendation rec;
  for (size_t j = 0; j < found.ids.size(); ++j) {
    rec.items.push_back({model_.items().Name(found.ids[j]), found.scores[j]});
  }
  return rec;
}

absl::StatusOr<Recommendation> ServingModel::RankItems(
    const std::string& user, const std::vector<std::string>& items,
    const std::vector<std::string>& recent_items,
    absl::Span<const RecentEvent> recent_events) const {
  if (items.size() > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("items has ", items.size(), " entries; at most 10000"));
  }
  ASSIGN_OR_RETURN(std::vector<float> vec, UserVector(user, recent_items, recent_events));
  Recommendation rec;
  rec.fallback = vec.empty();
  std::vector<std::pair<float, size_t>> known;
  std::vector<size_t> unknown;
  for (size_t j = 0; j < items.size(); ++j) {
    const int32_t i = model_.items().Find(items[j]);
    if (i < 0) {
      unknown.push_back(j);
    } else if (vec.empty()) {
      absl::Span<const float> pop = model_.item_popularity();
      known.emplace_back(pop.empty() ? 0.f : pop[i], j);
    } else {
      known.emplace_back(ExactScore(vec, i), j);
    }
  }
  std::stable_sort(known.begin(), known.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [score, j] : known) rec.items.push_back({items[j], score});
  for (size_t j : unknown) rec.items.push_back({items[j], 0.f});
  return rec;
}

std::shared_ptr<const ServingModel> ModelSlot::Get() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

std::shared_ptr<const ServingModel> ModelSlot::Swap(
    std::shared_ptr<const ServingModel> model) {
  absl::MutexLock lock(&mu_);
  std::swap(current_, model);
  return model;
}

}  // namespace recbandit::services
