// Model activation time: how long ServingModel::Load takes for one stored
// version (factor files, id maps, seen items, items.index), with the factor
// arrays and the index read into memory (kRead, the old path) and memory-mapped
// (kMap), in the same run. The model is made once with random factors and an
// HNSW index and kept in --dir, so later runs only measure.
//
//   build/model_load_benchmark --items=1000000 --users=200000 --dim=64
//                            --index=HNSW32 --dir=/tmp/recbandit-load-bench --repeats=3
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/artifact_file.h"
#include "proto/core/file_util.h"
#include "proto/core/random.h"
#include "ranking/factor_model.h"
#include "retrieval/item_index.h"
#include "services/serving/serving_model.h"

ABSL_FLAG(int64_t, items, 200000, "items in the model");
ABSL_FLAG(int64_t, users, 50000, "users in the model");
ABSL_FLAG(int32_t, dim, 64, "factors");
ABSL_FLAG(std::string, index, "HNSW32", "item index factory string");
ABSL_FLAG(std::string, dir, "/tmp/recbandit-load-bench", "where the model is kept");
ABSL_FLAG(int32_t, repeats, 3, "loads per mode (the best is reported)");
ABSL_FLAG(int32_t, threads, 2, "index build threads");

namespace {

using recbandit::Rng;
using recbandit::ranking::FactorModel;
using recbandit::services::ServingModel;
using Clock = std::chrono::steady_clock;

// Builds and saves a random model with `items` x `dim` factors, 10 seen
// items per user, and its item index.
void MakeModel(const std::string& dir, int64_t users, int64_t items, int32_t dim,
               const std::string& index) {
  Rng rng(7);
  recbandit::ranking::IdMap user_ids, item_ids;
  for (int64_t u = 0; u < users; ++u) user_ids.GetOrAdd(absl::StrCat("user", u));
  for (int64_t i = 0; i < items; ++i) item_ids.GetOrAdd(absl::StrCat("item", i));
  std::vector<float> uf(users * dim), itf(items * dim);
  for (float& x : uf) x = static_cast<float>(rng.Normal() * 0.1);
  for (float& x : itf) x = static_cast<float>(rng.Normal() * 0.1);
  recbandit::ranking::CsrMatrix seen;
  seen.rows = static_cast<int32_t>(users);
  seen.cols = static_cast<int32_t>(items);
  seen.indptr.push_back(0);
  for (int64_t u = 0; u < users; ++u) {
    std::vector<int32_t> row;
    for (int k = 0; k < 10; ++k) row.push_back(static_cast<int32_t>(rng.UniformInt(items)));
    std::sort(row.begin(), row.end());
    row.erase(std::unique(row.begin(), row.end()), row.end());
    for (int32_t i : row) {
      seen.indices.push_back(i);
      seen.values.push_back(1.0f);
    }
    seen.indptr.push_back(static_cast<int64_t>(seen.indices.size()));
  }
  recbandit::ModelManifest manifest;
  manifest.set_algo(recbandit::ALS);
  auto model = FactorModel::Create(std::move(user_ids), std::move(item_ids), dim, std::move(uf),
                                   std::move(itf), {}, manifest, &seen);
  if (!model.ok()) {
    std::fprintf(stderr, "create: %s\n", model.status().ToString().c_str());
    std::exit(1);
  }
  const auto t0 = Clock::now();
  recbandit::retrieval::IndexBuildOptions options;
  options.threads = absl::GetFlag(FLAGS_threads);
  auto built = recbandit::retrieval::BuildItemIndex(index, model->item_factors(), dim, options);
  if (!built.ok()) {
    std::fprintf(stderr, "index: %s\n", built.status().ToString().c_str());
    std::exit(1);
  }
  std::fprintf(stderr, "built %s over %lld items in %.1f s\n", index.c_str(),
               static_cast<long long>(items),
               std::chrono::duration<double>(Clock::now() - t0).count());
  absl::Status s = model->Save(dir);
  if (s.ok()) s = (*built)->Save(dir + "/" + recbandit::services::kItemIndexFile);
  if (!s.ok()) {
    std::fprintf(stderr, "save: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t items = absl::GetFlag(FLAGS_items);
  const int64_t users = absl::GetFlag(FLAGS_users);
  const int32_t dim = absl::GetFlag(FLAGS_dim);
  const std::string dir = absl::StrCat(absl::GetFlag(FLAGS_dir), "/", items, "x", dim, "_",
                                       absl::GetFlag(FLAGS_index));
  if (!recbandit::PathExists(dir + "/manifest")) {
    MakeModel(dir, users, items, dim, absl::GetFlag(FLAGS_index));
  }
  {  // Where the time goes (the default mode), once.
    const auto t0 = Clock::now();
    auto model = FactorModel::Load(dir);
    const auto t1 = Clock::now();
    auto index = recbandit::retrieval::LoadItemIndex(
        dir + "/" + recbandit::services::kItemIndexFile, model->item_factors(), dim);
    const auto t2 = Clock::now();
    auto serving = ServingModel::Create(*std::move(model), *std::move(index), "bench", 1);
    const auto t3 = Clock::now();
    if (!serving.ok()) return 1;
    auto s = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    std::printf("phases: FactorModel::Load %.3f s, LoadItemIndex %.3f s, ServingModel::Create "
                "%.3f s\n\n",
                s(t0, t1), s(t1, t2), s(t2, t3));
  }
  std::printf("| mode | best load s | all loads s |\n|---|---|---|\n");
  for (const char* mode : {"read", "map"}) {
    double best = 1e9;
    std::string all;
    recbandit::SetMapFiles(std::string(mode) == "map");
    for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
      const auto t0 = Clock::now();
      auto loaded = ServingModel::Load(dir, "Exact", "bench", 1);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (!loaded.ok()) {
        std::fprintf(stderr, "load: %s\n", loaded.status().ToString().c_str());
        return 1;
      }
      best = std::min(best, s);
      absl::StrAppend(&all, all.empty() ? "" : ", ", absl::StrFormat("%.3f", s));
    }
    std::printf("| %s | %.3f | %s |\n", mode, best, all.c_str());
    std::fflush(stdout);
  }
  return 0;
}
