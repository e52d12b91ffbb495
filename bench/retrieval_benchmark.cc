// Side-by-side retrieval benchmark: for each index kind, recall@10 against the
// exact oracle and queries per second (one query at a time on one thread, and
// batched on --threads), over a sweep of efSearch / nprobe; plus the cost of
// our wrapper (exclusions, id mapping) against calling FAISS directly on an
// identical index in the same run. Prints a markdown table.
//
//   build/retrieval_benchmark --items=100000 --dim=64 --queries=500 --threads=2
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/core/random.h"
#include "retrieval/item_index.h"

namespace {

using recbandit::Rng;
using recbandit::retrieval::BuildItemIndex;
using recbandit::retrieval::ExactTopK;
using recbandit::retrieval::ItemIndex;
using recbandit::retrieval::SearchParams;
using recbandit::retrieval::SearchResult;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Item vectors shaped like trained factors: clusters with Zipf-like norms.
std::vector<float> MakeItems(int64_t n, int dim, uint64_t seed) {
  Rng rng(seed);
  const int clusters = 200;
  std::vector<float> centres(static_cast<size_t>(clusters) * dim);
  for (float& c : centres) c = static_cast<float>(rng.Normal());
  std::vector<float> v(static_cast<size_t>(n) * dim);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = rng.UniformInt(clusters);
    const float scale = 0.5f + 1.0f / std::sqrt(1.0f + static_cast<float>(rng.UniformInt(1000)));
    for (int j = 0; j < dim; ++j) {
      v[i * dim + j] = scale * (centres[c * dim + j] + 0.7f * static_cast<float>(rng.Normal()));
    }
  }
  return v;
}

struct Row {
  std::string kind, param;
  double build_s = 0, recall = 0, qps_single = 0, qps_batch = 0, faiss_qps = 0;
};

void Print(const Row& r) {
  std::printf("| %s | %s | %.1f | %.3f | %.0f | %.0f | %s |\n", r.kind.c_str(), r.param.c_str(),
              r.build_s, r.recall, r.qps_single, r.qps_batch,
              r.faiss_qps > 0 ? absl::StrCat(static_cast<int>(r.faiss_qps), " (wrapper ",
                                             static_cast<int>(std::round(100.0 * (r.faiss_qps / r.qps_single - 1))),
                                             "%)").c_str()
                              : "-");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t items = 100000;
  int dim = 64, queries = 500, threads = 2, k = 10, seen = 20;
  std::string kinds = "Exact;Flat;HNSW32;IVF{sqrt},Flat;IVF{sqrt},PQ{dim/4}x4";
  // --index_cache=<dir>: reuse indexes saved there by an earlier run with the
  // same items/dim (an HNSW32 build over 1M items takes minutes); the raw
  // FAISS baseline column is then skipped.
  std::string index_cache;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> const char* {
      const std::string p = absl::StrCat("--", name, "=");
      return a.rfind(p, 0) == 0 ? a.c_str() + p.size() : nullptr;
    };
    if (auto v = val("items")) items = std::atoll(v);
    if (auto v = val("dim")) dim = std::atoi(v);
    if (auto v = val("queries")) queries = std::atoi(v);
    if (auto v = val("threads")) threads = std::atoi(v);
    if (auto v = val("kinds")) kinds = v;
    if (auto v = val("index_cache")) index_cache = v;
  }
  const int nlist = static_cast<int>(std::round(std::sqrt(static_cast<double>(items))));
  std::vector<float> v = MakeItems(items, dim, 1);
  Rng rng(2);
  std::vector<float> q(static_cast<size_t>(queries) * dim);
  for (float& x : q) x = static_cast<float>(rng.Normal());
  // Each query excludes `seen` random items, as a user's history would.
  std::vector<std::vector<int32_t>> excludes(queries);
  for (auto& e : excludes) {
    for (int s = 0; s < seen; ++s) e.push_back(static_cast<int32_t>(rng.UniformInt(items)));
    std::sort(e.begin(), e.end());
  }
  // The oracle, timed: our exact scan over all items.
  std::vector<std::set<int32_t>> truth(queries);
  const auto t0 = Clock::now();
  for (int i = 0; i < queries; ++i) {
    SearchResult r = ExactTopK(v, dim, absl::MakeConstSpan(q).subspan(i * dim, dim), k, excludes[i]);
    truth[i] = std::set<int32_t>(r.ids.begin(), r.ids.end());
  }
  const double oracle_s = Seconds(t0, Clock::now());
  std::printf("items=%lld dim=%d queries=%d k=%d seen=%d threads=%d nlist=%d\n",
              static_cast<long long>(items), dim, queries, k, seen, threads, nlist);
  std::printf("exact oracle (ExactTopK, 1 thread): %.0f queries/s\n\n", queries / oracle_s);
  std::printf("| kind | search param | build s | recall@10 | QPS 1 thread | QPS batch (%d threads) | "
              "raw FAISS QPS, same index |\n|---|---|---|---|---|---|---|\n", threads);

  for (absl::string_view kind_view : absl::StrSplit(kinds, ';')) {
    std::string kind(kind_view);
    auto replace = [&](const std::string& from, const std::string& to) {
      size_t p = kind.find(from);
      if (p != std::string::npos) kind.replace(p, from.size(), to);
    };
    replace("{sqrt}", std::to_string(nlist));
    replace("{dim/4}", std::to_string(dim / 4));
    recbandit::retrieval::IndexBuildOptions options;
    options.threads = threads;
    const auto b0 = Clock::now();
    std::string cache_path;
    if (!index_cache.empty()) {
      cache_path = absl::StrCat(index_cache, "/", kind, "_", items, "x", dim, ".index");
      for (char& c : cache_path) {
        if (c == ',') c = '_';
      }
    }
    absl::StatusOr<std::unique_ptr<ItemIndex>> built =
        !cache_path.empty() && std::ifstream(cache_path).good()
            ? recbandit::retrieval::LoadItemIndex(cache_path, v, dim)
            : BuildItemIndex(kind, v, dim, options);
    const double build_s = Seconds(b0, Clock::now());
    if (built.ok() && !cache_path.empty() && !std::ifstream(cache_path).good()) {
      if (!(*built)->Save(cache_path).ok()) std::abort();
    }
    if (!built.ok()) {
      std::printf("| %s | build failed: %s |\n", kind.c_str(), std::string(built.status().message()).c_str());
      continue;
    }
    const ItemIndex& index = **built;
    // The same index built directly with FAISS, to measure our wrapper.
    std::unique_ptr<faiss::Index> raw;
    if (kind != "Exact" && index_cache.empty()) {
      omp_set_num_threads(threads);
      raw.reset(faiss::index_factory(dim, kind.c_str(), faiss::METRIC_INNER_PRODUCT));
      if (auto* h = dynamic_cast<faiss::IndexHNSW*>(raw.get())) h->hnsw.efConstruction = options.hnsw_ef_construction;
      if (!raw->is_trained) raw->train(items, v.data());
      raw->add(items, v.data());
    }
    std::vector<SearchParams> sweep = {SearchParams{}};
    std::vector<std::string> labels = {"default"};
    if (kind.rfind("HNSW", 0) == 0) {
      sweep.clear();
      labels.clear();
      for (int ef : {16, 32, 64, 96, 128, 144, 160, 192, 256}) {
        sweep.push_back(SearchParams{ef, 0});
        labels.push_back(absl::StrCat("efSearch=", ef));
      }
    } else if (kind.rfind("IVF", 0) == 0) {
      sweep.clear();
      labels.clear();
      for (int np : {1, 4, 16, 64}) {
        if (np > nlist) break;
        sweep.push_back(SearchParams{0, np});
        labels.push_back(absl::StrCat("nprobe=", np));
      }
    }
    for (size_t s = 0; s < sweep.size(); ++s) {
      Row row{kind, labels[s], s == 0 ? build_s : 0};
      SearchResult r;
      double hits = 0;
      const auto s0 = Clock::now();
      for (int i = 0; i < queries; ++i) {
        if (!index.Search(absl::MakeConstSpan(q).subspan(i * dim, dim), k, excludes[i], sweep[s], &r).ok()) std::abort();
        for (int32_t id : r.ids) hits += truth[i].count(id);
      }
      row.qps_single = queries / Seconds(s0, Clock::now());
      row.recall = hits / (static_cast<double>(queries) * k);
      std::vector<SearchResult> batch;
      const auto s1 = Clock::now();
      if (!index.SearchBatch(q, k, excludes, sweep[s], threads, &batch).ok()) std::abort();
      row.qps_batch = queries / Seconds(s1, Clock::now());
      if (raw != nullptr) {
        // Raw FAISS, one query at a time on one thread, no exclusions: fetch
        // k + seen and let the caller filter, the cheapest honest baseline.
        omp_set_num_threads(1);
        std::unique_ptr<faiss::SearchParameters> p;
        if (auto* h = dynamic_cast<faiss::IndexHNSW*>(raw.get())) {
          // FAISS 1.7.3 ignores SearchParametersHNSW::efSearch: set the
          // index's own field (safe here: this loop is single-threaded).
          h->hnsw.efSearch = sweep[s].ef_search > 0 ? sweep[s].ef_search : 128;
        } else if (dynamic_cast<faiss::IndexIVF*>(raw.get()) != nullptr) {
          auto* ip = new faiss::SearchParametersIVF();
          ip->nprobe = sweep[s].nprobe > 0 ? sweep[s].nprobe : 16;
          p.reset(ip);
        }
        std::vector<float> d(k + seen);
        std::vector<faiss::Index::idx_t> l(k + seen);
        const auto s2 = Clock::now();
        for (int i = 0; i < queries; ++i) {
          raw->search(1, q.data() + static_cast<size_t>(i) * dim, k + seen, d.data(), l.data(), p.get());
        }
        row.faiss_qps = queries / Seconds(s2, Clock::now());
      }
      Print(row);
    }
  }
  return 0;
}
