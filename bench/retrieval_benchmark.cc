// Side-by-side retrieval benchmark: for each index kind, recall@10 against the
// exact oracle and queries per second (one query at a time on one thread, and
// batched on --threads), over a sweep of efSearch / nprobe; plus the cost of
// our wrapper (exclusions, id mapping) against calling FAISS directly on an
// identical index in the same run. Prints a markdown table. Vectors, queries
// and ground truth come from the built-in generator or from files in the
// ann-benchmarks style (.fvecs / .ivecs / .npy); `--help` lists the flags.
//
//   build/retrieval_benchmark --items=100000 --dim=64 --queries=500 --threads=2
//   build/retrieval_benchmark --base=base.fvecs --query_file=q.fvecs
//       --truth=gt.ivecs --seen=0 --kinds="Graph8" --ef=32,64,128
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/core/file_util.h"
#include "proto/core/random.h"
#include "ranking/factor_import.h"
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

constexpr char kUsage[] = R"(retrieval_benchmark: recall@k and QPS of item index kinds.

Data (default: a synthetic clustered generator shaped like trained factors):
  --items=N --dim=D           generated item count and dimension (100000, 64)
  --base=FILE                 item vectors, .fvecs or .npy (float32/float64, n x d)
  --query_file=FILE           query vectors, .fvecs or .npy (default: Gaussian queries)
  --queries=N                 queries used (500; at most the file's count)
  --truth=FILE                ground-truth neighbour ids, .ivecs or .npy (int32/int64),
                              row q = query q, best first; only with --seen=0
                              (default: computed by the exact scan)
  --write_dataset=DIR         write DIR/base.fvecs, queries.fvecs, gt.ivecs (top 100,
                              exact) of the data above and exit
Search:
  --kinds="A;B;..."           factory strings ({sqrt} and {dim/4} are substituted)
  --ef=16,32,...              efSearch sweep for HNSW and Graph kinds
  --k=10 --seen=20            results per query; random excluded items per query
  --threads=2                 build threads and batch-search threads
  --index_cache=DIR           reuse indexes saved there by an earlier run
  --help                      this text
)";

// Returns the rows of an .fvecs/.ivecs file (each row: int32 d, then d
// 4-byte values) as 4-byte words, with *dim set; aborts on a malformed file.
std::vector<uint32_t> ReadVecs(const std::string& path, int* dim) {
  absl::StatusOr<std::string> bytes = recbandit::ReadFileToString(path);
  if (!bytes.ok() || bytes->size() < 4) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(2);
  }
  int32_t d = 0;
  std::memcpy(&d, bytes->data(), 4);
  const size_t row = 4 + 4 * static_cast<size_t>(d);
  if (d <= 0 || bytes->size() % row != 0) {
    std::fprintf(stderr, "%s: not a .fvecs/.ivecs file\n", path.c_str());
    std::exit(2);
  }
  const size_t n = bytes->size() / row;
  std::vector<uint32_t> out(n * d);
  for (size_t i = 0; i < n; ++i) std::memcpy(&out[i * d], bytes->data() + i * row + 4, 4 * d);
  *dim = d;
  return out;
}

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Float vectors from .fvecs or .npy.
std::vector<float> ReadVectors(const std::string& path, int* dim) {
  if (EndsWith(path, ".npy")) {
    absl::StatusOr<recbandit::ranking::FactorMatrix> m = recbandit::ranking::ReadFactorMatrix(path);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", std::string(m.status().message()).c_str());
      std::exit(2);
    }
    *dim = m->cols;
    return std::move(m->values);
  }
  std::vector<uint32_t> words = ReadVecs(path, dim);
  std::vector<float> out(words.size());
  std::memcpy(out.data(), words.data(), 4 * words.size());
  return out;
}

// Integer ids from .ivecs or a 2-D .npy of '<i4' / '<i8'.
std::vector<int64_t> ReadIds(const std::string& path, int* cols) {
  std::vector<int64_t> out;
  if (!EndsWith(path, ".npy")) {
    for (uint32_t w : ReadVecs(path, cols)) out.push_back(static_cast<int32_t>(w));
    return out;
  }
  absl::StatusOr<std::string> bytes = recbandit::ReadFileToString(path);
  if (!bytes.ok() || bytes->size() < 10 || bytes->compare(0, 6, "\x93NUMPY") != 0) {
    std::fprintf(stderr, "%s: not a .npy file\n", path.c_str());
    std::exit(2);
  }
  const int major = static_cast<unsigned char>((*bytes)[6]);
  size_t hlen = 0, start = 0;
  if (major == 1) {
    hlen = static_cast<unsigned char>((*bytes)[8]) | static_cast<unsigned char>((*bytes)[9]) << 8;
    start = 10;
  } else {
    uint32_t h4 = 0;
    std::memcpy(&h4, bytes->data() + 8, 4);
    hlen = h4;
    start = 12;
  }
  const std::string header = bytes->substr(start, hlen);
  const bool i8 = header.find("<i8") != std::string::npos;
  if (!i8 && header.find("<i4") == std::string::npos) {
    std::fprintf(stderr, "%s: ground truth must be '<i4' or '<i8'\n", path.c_str());
    std::exit(2);
  }
  const size_t shape = header.find("'shape': (");
  long long rows = 0, c = 0;
  if (shape == std::string::npos ||
      std::sscanf(header.c_str() + shape, "'shape': (%lld, %lld)", &rows, &c) != 2) {
    std::fprintf(stderr, "%s: ground truth must be 2-D\n", path.c_str());
    std::exit(2);
  }
  const size_t width = i8 ? 8 : 4;
  if (bytes->size() != start + hlen + static_cast<size_t>(rows * c) * width) {
    std::fprintf(stderr, "%s: size does not match its shape\n", path.c_str());
    std::exit(2);
  }
  const char* p = bytes->data() + start + hlen;
  for (long long i = 0; i < rows * c; ++i) {
    if (i8) {
      int64_t v;
      std::memcpy(&v, p + 8 * i, 8);
      out.push_back(v);
    } else {
      int32_t v;
      std::memcpy(&v, p + 4 * i, 4);
      out.push_back(v);
    }
  }
  *cols = static_cast<int>(c);
  return out;
}

void WriteVecs(const std::string& path, const void* data, int64_t rows, int d) {
  std::string out;
  out.reserve(static_cast<size_t>(rows) * (4 + 4 * d));
  for (int64_t i = 0; i < rows; ++i) {
    out.append(reinterpret_cast<const char*>(&d), 4);
    out.append(static_cast<const char*>(data) + 4 * static_cast<size_t>(i) * d, 4 * d);
  }
  if (!recbandit::WriteFileAtomically(path, out).ok()) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int64_t items = 100000;
  int dim = 64, queries = 500, threads = 2, k = 10, seen = 20;
  std::string kinds = "Exact;Flat;HNSW32;IVF{sqrt},Flat;IVF{sqrt},PQ{dim/4}x4";
  // --index_cache=<dir>: reuse indexes saved there by an earlier run with the
  // same items/dim (an HNSW32 build over 1M items takes minutes); the raw
  // FAISS baseline column is then skipped.
  std::string index_cache, base, query_file, truth_file, write_dataset;
  std::vector<int> efs = {16, 32, 64, 96, 128, 144, 160, 192, 256};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
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
    if (auto v = val("base")) base = v;
    if (auto v = val("query_file")) query_file = v;
    if (auto v = val("truth")) truth_file = v;
    if (auto v = val("write_dataset")) write_dataset = v;
    if (auto v = val("k")) k = std::atoi(v);
    if (auto v = val("seen")) seen = std::atoi(v);
    if (auto v = val("ef")) {
      efs.clear();
      for (absl::string_view e : absl::StrSplit(v, ',')) efs.push_back(std::atoi(std::string(e).c_str()));
    }
    if (a.rfind("--", 0) != 0 || a.find('=') == std::string::npos) {
      std::fprintf(stderr, "unknown argument %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (!truth_file.empty() && seen != 0) {
    std::fprintf(stderr, "--truth needs --seen=0 (its neighbours know no exclusions)\n");
    return 2;
  }
  std::vector<float> v;
  if (base.empty()) {
    v = MakeItems(items, dim, 1);
  } else {
    v = ReadVectors(base, &dim);
    items = static_cast<int64_t>(v.size()) / dim;
  }
  const int nlist = static_cast<int>(std::round(std::sqrt(static_cast<double>(items))));
  Rng rng(2);
  std::vector<float> q(static_cast<size_t>(queries) * dim);
  for (float& x : q) x = static_cast<float>(rng.Normal());
  if (!query_file.empty()) {
    int qdim = 0;
    q = ReadVectors(query_file, &qdim);
    if (qdim != dim) {
      std::fprintf(stderr, "queries have dim %d, vectors %d\n", qdim, dim);
      return 2;
    }
    queries = std::min<int64_t>(queries, static_cast<int64_t>(q.size()) / dim);
    q.resize(static_cast<size_t>(queries) * dim);
  }
  if (!write_dataset.empty()) {
    (void)recbandit::MakeDirs(write_dataset);
    WriteVecs(write_dataset + "/base.fvecs", v.data(), items, dim);
    WriteVecs(write_dataset + "/queries.fvecs", q.data(), queries, dim);
    std::vector<int32_t> gt;
    for (int i = 0; i < queries; ++i) {
      SearchResult r = ExactTopK(v, dim, absl::MakeConstSpan(q).subspan(i * dim, dim), 100, {});
      r.ids.resize(100, -1);
      gt.insert(gt.end(), r.ids.begin(), r.ids.end());
    }
    WriteVecs(write_dataset + "/gt.ivecs", gt.data(), queries, 100);
    std::printf("wrote %s/{base,queries}.fvecs (%lld and %d x %d) and gt.ivecs (top 100)\n",
                write_dataset.c_str(), static_cast<long long>(items), queries, dim);
    return 0;
  }
  // Each query excludes `seen` random items, as a user's history would.
  std::vector<std::vector<int32_t>> excludes(queries);
  for (auto& e : excludes) {
    for (int s = 0; s < seen; ++s) e.push_back(static_cast<int32_t>(rng.UniformInt(items)));
    std::sort(e.begin(), e.end());
  }
  // The oracle, timed: our exact scan over all items.
  std::vector<std::set<int32_t>> truth(queries);
  const auto t0 = Clock::now();
  std::vector<int64_t> given;
  int given_cols = 0;
  if (!truth_file.empty()) {
    given = ReadIds(truth_file, &given_cols);
    if (given_cols < k || static_cast<int64_t>(given.size()) / given_cols < queries) {
      std::fprintf(stderr, "%s: need at least %d queries x %d ids\n", truth_file.c_str(), queries, k);
      return 2;
    }
  }
  for (int i = 0; i < queries; ++i) {
    if (!given.empty()) {
      for (int j = 0; j < k; ++j) truth[i].insert(static_cast<int32_t>(given[static_cast<size_t>(i) * given_cols + j]));
      continue;
    }
    SearchResult r = ExactTopK(v, dim, absl::MakeConstSpan(q).subspan(i * dim, dim), k, excludes[i]);
    truth[i] = std::set<int32_t>(r.ids.begin(), r.ids.end());
  }
  const double oracle_s = Seconds(t0, Clock::now());
  std::printf("items=%lld dim=%d queries=%d k=%d seen=%d threads=%d nlist=%d\n",
              static_cast<long long>(items), dim, queries, k, seen, threads, nlist);
  if (given.empty()) {
    std::printf("exact oracle (ExactTopK, 1 thread): %.0f queries/s\n\n", queries / oracle_s);
  } else {
    std::printf("ground truth from %s\n\n", truth_file.c_str());
  }
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
    if (kind != "Exact" && kind.rfind("Graph", 0) != 0 && index_cache.empty()) {
      omp_set_num_threads(threads);
      raw.reset(faiss::index_factory(dim, kind.c_str(), faiss::METRIC_INNER_PRODUCT));
      if (auto* h = dynamic_cast<faiss::IndexHNSW*>(raw.get())) h->hnsw.efConstruction = options.hnsw_ef_construction;
      if (!raw->is_trained) raw->train(items, v.data());
      raw->add(items, v.data());
    }
    std::vector<SearchParams> sweep = {SearchParams{}};
    std::vector<std::string> labels = {"default"};
    if (kind.rfind("HNSW", 0) == 0 || kind.rfind("Graph", 0) == 0) {
      sweep.clear();
      labels.clear();
      for (int ef : efs) {
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
