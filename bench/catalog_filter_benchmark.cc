// Catalog filters: the cost of a filtered Recommend on its two paths, for a
// growing number of allowed items: an exact scan over the allowed rows, and
// the item index searching with every other row excluded. Where the curves
// cross sets FilteredRows::kScanRows (serve --filter_scan_rows). The model
// has random factors; the allowed rows are a random subset; each timing is
// the median of --queries Recommend calls (one user each, k = 10).
//
//   build/catalog_filter_benchmark --items=200000 --dim=64 --index=HNSW32
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "proto/core/random.h"
#include "ranking/factor_model.h"
#include "retrieval/item_index.h"
#include "services/serving/serving_model.h"

ABSL_FLAG(int64_t, items, 200000, "items in the model");
ABSL_FLAG(int32_t, dim, 64, "factors");
ABSL_FLAG(std::string, index, "HNSW32", "item index factory string");
ABSL_FLAG(int32_t, queries, 200, "Recommend calls per point (the median is reported)");
ABSL_FLAG(int32_t, threads, 2, "index build threads");

namespace {

using recbandit::Rng;
using recbandit::services::FilteredRows;
using recbandit::services::RowFilter;
using recbandit::services::ServingModel;
using Clock = std::chrono::steady_clock;

// A filter with fixed rows, whatever the model.
class FixedRows : public RowFilter {
 public:
  explicit FixedRows(FilteredRows rows) : rows_(std::make_shared<FilteredRows>(std::move(rows))) {}
  std::shared_ptr<const FilteredRows> Rows(const ServingModel&) const override { return rows_; }
  bool AllowsRecord(const std::string&, const recbandit::CatalogItem&) const override {
    return true;
  }

 private:
  std::shared_ptr<const FilteredRows> rows_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t items = absl::GetFlag(FLAGS_items);
  const int32_t dim = absl::GetFlag(FLAGS_dim);
  const int32_t users = 1000;
  Rng rng(3);
  recbandit::ranking::IdMap user_ids, item_ids;
  for (int32_t u = 0; u < users; ++u) user_ids.GetOrAdd(absl::StrCat("u", u));
  for (int64_t i = 0; i < items; ++i) item_ids.GetOrAdd(absl::StrCat("i", i));
  std::vector<float> uf(static_cast<size_t>(users) * dim), itf(static_cast<size_t>(items) * dim);
  for (float& x : uf) x = static_cast<float>(rng.Normal());
  for (float& x : itf) x = static_cast<float>(rng.Normal());
  recbandit::ModelManifest manifest;
  auto model = recbandit::ranking::FactorModel::Create(std::move(user_ids), std::move(item_ids),
                                                      dim, std::move(uf), std::move(itf), {},
                                                      manifest, nullptr);
  if (!model.ok()) return 1;
  recbandit::retrieval::IndexBuildOptions options;
  options.threads = absl::GetFlag(FLAGS_threads);
  const auto build_start = Clock::now();
  auto index = recbandit::retrieval::BuildItemIndex(absl::GetFlag(FLAGS_index),
                                                    model->item_factors(), dim, options);
  if (!index.ok()) {
    std::fprintf(stderr, "%s\n", std::string(index.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "index %s built in %.1f s\n", absl::GetFlag(FLAGS_index).c_str(),
               std::chrono::duration<double>(Clock::now() - build_start).count());
  auto serving = ServingModel::Create(*std::move(model), *std::move(index), "bench", 1);
  if (!serving.ok()) return 1;
  std::vector<int32_t> order(items);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = items - 1; i > 0; --i) std::swap(order[i], order[rng.UniformInt(i + 1)]);
  std::printf("| allowed | scan (ms) | index, rest excluded (ms) |\n|---|---|---|\n");
  for (int64_t allowed : {1000, 5000, 10000, 20000, 50000, 100000}) {
    if (allowed > items) break;
    std::vector<int32_t> rows(order.begin(), order.begin() + allowed);
    std::sort(rows.begin(), rows.end());
    double median[2];
    for (int path = 0; path < 2; ++path) {
      auto filter = std::make_shared<FixedRows>(
          FilteredRows::FromAllowed(rows, static_cast<int32_t>(items), path == 0 ? items : 0));
      std::vector<double> ms;
      for (int q = 0; q < absl::GetFlag(FLAGS_queries); ++q) {
        recbandit::services::RecommendQuery query;
        query.user = absl::StrCat("u", q % users);
        query.k = 10;
        query.filter = filter;
        const auto start = Clock::now();
        auto rec = (*serving)->Recommend(query);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        if (!rec.ok() || rec->items.size() != 10) return 2;
      }
      std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
      median[path] = ms[ms.size() / 2];
    }
    std::printf("| %lld | %.3f | %.3f |\n", static_cast<long long>(allowed), median[0], median[1]);
  }
  return 0;
}
