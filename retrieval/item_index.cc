// ItemIndex implementations: FaissItemIndex (any index_factory string, with
// ID selectors for exclusions) and ExactItemIndex (a SIMD scan). FAISS
// exceptions are caught here and never cross the API.
#include "retrieval/item_index.h"

#include <faiss/IVFlib.h>
#include <faiss/Index.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/artifact_file.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "proto/core/string_view.h"
#include "retrieval/graph_index.h"
#include "retrieval/hnsw_search.h"
#include "retrieval/index_factory.h"
#include "retrieval/scan.h"

namespace recbandit::retrieval {

// ------------------------------------------------------------ shared pieces

absl::Status ItemIndex::SearchBatch(absl::Span<const float> queries, int32_t k,
                                    const std::vector<std::vector<int32_t>>& excludes,
                                    const SearchParams& params, int32_t threads,
                                    std::vector<SearchResult>* out) const {
  if (dim() <= 0 || queries.size() % dim() != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "queries has %d floats, not a multiple of dim %d", queries.size(), dim()));
  }
  const int64_t nq = static_cast<int64_t>(queries.size()) / dim();
  if (!excludes.empty() && static_cast<int64_t>(excludes.size()) != nq) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "excludes has %d lists for %d queries", excludes.size(), nq));
  }
  out->assign(nq, SearchResult());
  threads = std::max(1, std::min<int32_t>(threads, static_cast<int32_t>(nq)));
  std::atomic<int64_t> next{0};
  std::vector<absl::Status> status(threads);
  auto work = [&](int t) {
    for (;;) {
      const int64_t q = next.fetch_add(1);
      if (q >= nq) return;
      absl::Status s = Search(queries.subspan(q * dim(), dim()), k,
                              excludes.empty() ? absl::Span<const int32_t>()
                                               : absl::MakeConstSpan(excludes[q]),
                              params, &(*out)[q]);
      if (!s.ok()) {
        status[t] = s;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (const auto& s : status) RETURN_IF_ERROR(s);
  return absl::OkStatus();
}

namespace {

absl::Status CheckSearchArgs(absl::Span<const float> query, int32_t k, int32_t dim) {
  if (static_cast<int64_t>(query.size()) != dim) {
    return absl::InvalidArgumentError(
        absl::StrFormat("query has %d floats, index dim is %d", query.size(), dim));
  }
  if (k < 1) return absl::InvalidArgumentError(absl::StrCat("k must be >= 1, got ", k));
  return absl::OkStatus();
}

// Number of distinct ids of `exclude` that are valid rows (< n).
int64_t CountExcluded(absl::Span<const int32_t> exclude, int64_t n) {
  int64_t count = 0;
  for (size_t i = 0; i < exclude.size(); ++i) {
    if (exclude[i] < 0 || exclude[i] >= n) continue;
    if (i > 0 && exclude[i] == exclude[i - 1]) continue;
    ++count;
  }
  return count;
}

absl::Status CheckSorted(absl::Span<const int32_t> exclude) {
  if (!std::is_sorted(exclude.begin(), exclude.end())) {
    return absl::InvalidArgumentError("exclude ids must be sorted ascending");
  }
  return absl::OkStatus();
}

// Admits ids not in a sorted span (binary search): cheap to build per query.
class ExcludeSelector final : public faiss::IDSelector {
 public:
  explicit ExcludeSelector(absl::Span<const int32_t> exclude) : exclude_(exclude) {}
  bool is_member(faiss::Index::idx_t id) const override {
    return !std::binary_search(exclude_.begin(), exclude_.end(), static_cast<int32_t>(id));
  }

 private:
  absl::Span<const int32_t> exclude_;
};

// --------------------------------------------------------------- Exact scan

constexpr char kExactMagic[] = "recbandit-exact-index-v1";

class ExactItemIndex final : public ItemIndex {
 public:
  ExactItemIndex(std::vector<float> vectors, int32_t dim)
      : vectors_(std::move(vectors)), dim_(dim), n_(static_cast<int64_t>(vectors_.size()) / dim) {}

  absl::Status Search(absl::Span<const float> query, int32_t k,
                      absl::Span<const int32_t> exclude, const SearchParams& params,
                      SearchResult* out) const override {
    RETURN_IF_ERROR(CheckSearchArgs(query, k, dim_));
    RETURN_IF_ERROR(CheckSorted(exclude));
    *out = ExactTopK(vectors_, dim_, query, k, exclude);
    return absl::OkStatus();
  }

  absl::Status Save(const std::string& path) const override {
    const std::string body = absl::StrFormat("%s %d %d %u\n", kExactMagic, n_, dim_,
                                             Crc32c(std::string_view(
                                                 reinterpret_cast<const char*>(vectors_.data()),
                                                 vectors_.size() * sizeof(float))));
    return WriteFileAtomically(path, body);
  }

  const std::string& factory() const override { return factory_; }
  int64_t size() const override { return n_; }
  int32_t dim() const override { return dim_; }
  bool exact() const override { return true; }

 private:
  const std::string factory_ = "Exact";
  std::vector<float> vectors_;
  int32_t dim_;
  int64_t n_;
};

// ------------------------------------------------------------------- FAISS

absl::Status FaissError(absl::string_view what, const std::exception& e) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", e.what()));
}

// Appends to `out` the first results of a FAISS search (labels/distances,
// `fetch` of them, -1 ends them) that are not in `exclude`, up to `want`.
void KeepAllowed(const faiss::Index::idx_t* labels, const float* distances, int64_t fetch,
                 absl::Span<const int32_t> exclude, int32_t want, SearchResult* out) {
  for (int64_t j = 0; j < fetch && static_cast<int32_t>(out->ids.size()) < want; ++j) {
    if (labels[j] < 0) break;
    const int32_t id = static_cast<int32_t>(labels[j]);
    if (std::binary_search(exclude.begin(), exclude.end(), id)) continue;
    out->ids.push_back(id);
    out->scores.push_back(distances[j]);
  }
}

class FaissItemIndex final : public ItemIndex {
 public:
  FaissItemIndex(std::string factory, std::unique_ptr<faiss::Index> index)
      : factory_(std::move(factory)), index_(std::move(index)) {
    hnsw_ = dynamic_cast<faiss::IndexHNSW*>(index_.get());
    ivf_ = faiss::ivflib::try_extract_index_ivf(index_.get());
    if (hnsw_ != nullptr && index_->metric_type == faiss::METRIC_INNER_PRODUCT) {
      hnsw_vectors_ = HnswStorageVectors(*hnsw_);
    }
  }

  absl::Status Search(absl::Span<const float> query, int32_t k,
                      absl::Span<const int32_t> exclude, const SearchParams& params,
                      SearchResult* out) const override {
    RETURN_IF_ERROR(CheckSearchArgs(query, k, dim()));
    RETURN_IF_ERROR(CheckSorted(exclude));
    if (params.ef_search < 0 || params.ef_search > 4096) {
      return absl::InvalidArgumentError(
          absl::StrCat("ef_search must be in [0, 4096], got ", params.ef_search));
    }
    if (params.nprobe < 0 || (ivf_ != nullptr && params.nprobe > static_cast<int64_t>(ivf_->nlist))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "nprobe must be in [0, nlist=", ivf_ != nullptr ? ivf_->nlist : 0, "], got ",
          params.nprobe));
    }
    const int64_t allowed = size() - CountExcluded(exclude, size());
    const int32_t want = static_cast<int32_t>(std::min<int64_t>(k, std::max<int64_t>(allowed, 0)));
    out->ids.clear();
    out->scores.clear();
    if (want == 0) return absl::OkStatus();

    // Serving threads call one query at a time: keep FAISS's OpenMP regions
    // to this thread.
    omp_set_num_threads(1);
    if (ivf_ == index_.get() && hnsw_ == nullptr && exclude.size() <= kIvfOverFetchLimit) {
      // A few exclusions: over-fetch and filter, which costs nothing per
      // scanned vector (an ID selector is a virtual call for each one); the
      // selector search below only runs when this comes back short of k.
      RETURN_IF_ERROR(IvfOverFetch(query, want, exclude, params, out));
      if (static_cast<int32_t>(out->ids.size()) >= want) return absl::OkStatus();
      out->ids.clear();
      out->scores.clear();
    }
    if (hnsw_ != nullptr || ivf_ == index_.get()) {
      return SearchWithSelector(query, want, exclude, params, out);
    }
    // Other kinds (Flat, PQ, wrapped pipelines): over-fetch by the number of
    // exclusions and filter; exhaustive kinds then always fill k.
    const int64_t fetch = std::min<int64_t>(size(), want + CountExcluded(exclude, size()));
    std::vector<float> distances(fetch);
    std::vector<faiss::Index::idx_t> labels(fetch);
    try {
      index_->search(1, query.data(), fetch, distances.data(), labels.data());
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("FAISS search failed: ", e.what()));
    }
    KeepAllowed(labels.data(), distances.data(), fetch, exclude, want, out);
    return absl::OkStatus();
  }

  absl::Status Save(const std::string& path) const override {
    faiss::VectorIOWriter writer;
    try {
      faiss::write_index(index_.get(), &writer);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("FAISS write_index failed: ", e.what()));
    }
    const absl::string_view bytes(reinterpret_cast<const char*>(writer.data.data()),
                                  writer.data.size());
    // A checksum header guards FAISS's parser from corrupt files.
    const std::string header = absl::StrFormat("recbandit-faiss-index-v1 %d %u %s\n",
                                               bytes.size(), Crc32c(ToStd(bytes)), factory_);
    return WriteFileAtomically(path, absl::StrCat(header, bytes));
  }

  const std::string& factory() const override { return factory_; }
  int64_t size() const override { return index_->ntotal; }
  int32_t dim() const override { return index_->d; }
  bool exact() const override {
    return hnsw_ == nullptr && ivf_ == nullptr && factory_.find("PQ") == std::string::npos &&
           factory_.find("SQ") == std::string::npos && factory_.find("LSH") == std::string::npos;
  }

 private:
  // Exclusion lists up to this long take the IVF over-fetch path.
  static constexpr size_t kIvfOverFetchLimit = 256;

  // IVF search for want + |exclude| results without a selector, filtered:
  // fills at most `want` allowed results (fewer when the probed lists run out).
  absl::Status IvfOverFetch(absl::Span<const float> query, int32_t want,
                            absl::Span<const int32_t> exclude, const SearchParams& params,
                            SearchResult* out) const {
    const int64_t fetch =
        std::min<int64_t>(size(), want + static_cast<int64_t>(exclude.size()));
    faiss::SearchParametersIVF ivf_params;
    ivf_params.nprobe = static_cast<size_t>(params.nprobe > 0 ? params.nprobe : ivf_->nprobe);
    thread_local std::vector<float> distances;
    thread_local std::vector<faiss::Index::idx_t> labels;
    distances.resize(fetch);
    labels.resize(fetch);
    try {
      index_->search(1, query.data(), fetch, distances.data(), labels.data(), &ivf_params);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("FAISS search failed: ", e.what()));
    }
    KeepAllowed(labels.data(), distances.data(), fetch, exclude, want, out);
    return absl::OkStatus();
  }

  // HNSW and IVF take an ID selector, so exclusions are skipped during the
  // search itself. When exclusions cut the graph or the probed lists short of
  // `want`, the beam (efSearch) or nprobe widens, and an HNSW search finally
  // scans its flat storage exhaustively: k is always filled when possible.
  absl::Status SearchWithSelector(absl::Span<const float> query, int32_t want,
                                  absl::Span<const int32_t> exclude,
                                  const SearchParams& params, SearchResult* out) const {
    if (hnsw_ != nullptr && hnsw_vectors_ != nullptr) {
      // Our own walk of FAISS's graph: FAISS 1.7.3 ignores a per-call efSearch.
      int64_t ef = params.ef_search > 0 ? params.ef_search : hnsw_->hnsw.efSearch;
      for (;;) {
        HnswSearch(*hnsw_, query.data(), want, static_cast<int32_t>(ef), exclude, &out->ids,
                   &out->scores);
        if (static_cast<int32_t>(out->ids.size()) >= want) return absl::OkStatus();
        if (ef >= 4096 || ef >= size()) break;
        ef = std::min<int64_t>(ef * 4, 4096);
      }
      // Exclusions cut the graph: finish with an exact scan of the storage.
      TopKScan(hnsw_vectors_, size(), dim(), query.data(), want, exclude, &out->ids,
               &out->scores);
      return absl::OkStatus();
    }
    ExcludeSelector selector(exclude);
    int64_t ef = params.ef_search > 0 ? params.ef_search : (hnsw_ ? hnsw_->hnsw.efSearch : 0);
    int64_t nprobe = params.nprobe > 0 ? params.nprobe : (ivf_ ? ivf_->nprobe : 0);
    std::vector<float> distances(want);
    std::vector<faiss::Index::idx_t> labels(want);
    for (;;) {
      faiss::SearchParametersHNSW hnsw_params;
      faiss::SearchParametersIVF ivf_params;
      faiss::SearchParameters* p;
      if (hnsw_ != nullptr) {
        hnsw_params.efSearch = static_cast<int>(std::max<int64_t>(ef, want));
        p = &hnsw_params;
      } else {
        ivf_params.nprobe = static_cast<size_t>(nprobe);
        p = &ivf_params;
      }
      p->sel = exclude.empty() ? nullptr : &selector;
      try {
        index_->search(1, query.data(), want, distances.data(), labels.data(), p);
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat("FAISS search failed: ", e.what()));
      }
      int32_t found = 0;
      while (found < want && labels[found] >= 0) ++found;
      const bool widest = hnsw_ != nullptr ? false : nprobe >= static_cast<int64_t>(ivf_->nlist);
      if (found == want || widest) {
        out->ids.assign(labels.begin(), labels.begin() + found);
        out->scores.assign(distances.begin(), distances.begin() + found);
        return absl::OkStatus();
      }
      if (hnsw_ != nullptr) {
        if (ef >= 4096 || ef >= size()) return SearchStorage(query, want, exclude, out);
        ef = std::min<int64_t>(ef * 4, 4096);
      } else {
        nprobe = std::min<int64_t>(std::max<int64_t>(nprobe * 4, 1), ivf_->nlist);
      }
    }
  }

  // Exhaustive search of an HNSW index's flat storage (exact), for requests
  // whose exclusions leave the graph search short of k results.
  absl::Status SearchStorage(absl::Span<const float> query, int32_t want,
                             absl::Span<const int32_t> exclude, SearchResult* out) const {
    ExcludeSelector selector(exclude);
    faiss::SearchParameters p;
    p.sel = &selector;
    std::vector<float> distances(want);
    std::vector<faiss::Index::idx_t> labels(want);
    try {
      hnsw_->storage->search(1, query.data(), want, distances.data(), labels.data(), &p);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("FAISS search failed: ", e.what()));
    }
    int32_t found = 0;
    while (found < want && labels[found] >= 0) ++found;
    out->ids.assign(labels.begin(), labels.begin() + found);
    out->scores.assign(distances.begin(), distances.begin() + found);
    return absl::OkStatus();
  }

  std::string factory_;
  std::unique_ptr<faiss::Index> index_;
  faiss::IndexHNSW* hnsw_ = nullptr;
  const float* hnsw_vectors_ = nullptr;  // flat storage of hnsw_, when float
  faiss::IndexIVF* ivf_ = nullptr;
};

absl::Status CheckVectors(absl::Span<const float> vectors, int32_t dim) {
  if (dim < 1 || dim > 4096) {
    return absl::InvalidArgumentError(absl::StrCat("dim must be in [1, 4096], got ", dim));
  }
  if (vectors.empty() || vectors.size() % dim != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vectors has %d floats: need a positive multiple of dim %d", vectors.size(), dim));
  }
  for (float v : vectors) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("vectors contain NaN or infinity");
  }
  return absl::OkStatus();
}

absl::Status CheckBuildOptions(const IndexBuildOptions& o) {
  const auto in = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  if (!in(o.hnsw_ef_construction, 1, kMaxBeam) || !in(o.hnsw_ef_search, 1, kMaxBeam)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HNSW efConstruction and efSearch must be in [1, ", kMaxBeam, "], got ",
        o.hnsw_ef_construction, " and ", o.hnsw_ef_search));
  }
  if (!in(o.ivf_nprobe, 1, kMaxIvfLists)) {
    return absl::InvalidArgumentError(
        absl::StrCat("IVF nprobe must be in [1, ", kMaxIvfLists, "], got ", o.ivf_nprobe));
  }
  if (!in(o.threads, 0, 256)) {
    return absl::InvalidArgumentError(
        absl::StrCat("index build threads must be in [1, 256], got ", o.threads));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateIndexFactory(const std::string& factory, int32_t dim, int64_t items) {
  return ParseIndexFactory(factory, dim, items).status();
}

absl::StatusOr<std::unique_ptr<ItemIndex>> BuildItemIndex(
    const std::string& factory, absl::Span<const float> vectors, int32_t dim,
    const IndexBuildOptions& options) {
  RETURN_IF_ERROR(CheckVectors(vectors, dim));
  const int64_t n = static_cast<int64_t>(vectors.size()) / dim;
  if (factory == "Exact") {
    return std::unique_ptr<ItemIndex>(new ExactItemIndex(
        std::vector<float>(vectors.begin(), vectors.end()), dim));
  }
  // No string outside the grammar reaches FAISS: its asserts abort.
  ASSIGN_OR_RETURN(const IndexSpec spec, ParseIndexFactory(factory, dim, n));
  RETURN_IF_ERROR(CheckBuildOptions(options));
  if (spec.kind == IndexSpec::Kind::kGraph) {
    return BuildGraphIndex(factory, spec.hnsw_m, spec.sq_type == "4" ? 4 : 8, vectors, dim,
                           options);
  }
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::index_factory(dim, factory.c_str(), faiss::METRIC_INNER_PRODUCT));
  } catch (const std::exception& e) {
    return FaissError(absl::StrCat("bad index factory string ", Quote(factory)), e);
  }
  const int threads = std::max(1, options.threads);
  omp_set_num_threads(threads);
  try {
    if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index.get())) {
      hnsw->hnsw.efConstruction = options.hnsw_ef_construction;
      hnsw->hnsw.efSearch = options.hnsw_ef_search;
    }
    faiss::IndexIVF* ivf = faiss::ivflib::try_extract_index_ivf(index.get());
    if (ivf != nullptr) {
      ivf->nprobe = std::min<size_t>(options.ivf_nprobe, ivf->nlist);
      ivf->cp.seed = static_cast<int>(options.seed);
      ivf->cp.verbose = false;
    }
    if (!index->is_trained) index->train(n, vectors.data());
    const int64_t batch = std::max<int64_t>(kIndexAddBatch, (n + 19) / 20);
    for (int64_t start = 0; start < n; start += batch) {
      const int64_t len = std::min(batch, n - start);
      index->add(len, vectors.data() + start * dim);
      if (options.progress) options.progress(start + len, n);
    }
  } catch (const std::exception& e) {
    omp_set_num_threads(1);
    return FaissError(absl::StrCat("cannot build index ", Quote(factory)), e);
  }
  omp_set_num_threads(1);
  return std::unique_ptr<ItemIndex>(new FaissItemIndex(factory, std::move(index)));
}

// Feeds faiss::read_index from bytes in memory (a mapped file) without
// copying them first; FAISS copies each array once into its own vectors.
struct SpanIOReader : faiss::IOReader {
  explicit SpanIOReader(absl::string_view bytes) : bytes(bytes) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || nitems == 0) return 0;
    const size_t available = (bytes.size() - pos) / size;
    const size_t n = std::min(nitems, available);
    std::memcpy(ptr, bytes.data() + pos, n * size);
    pos += n * size;
    return n;
  }
  absl::string_view bytes;
  size_t pos = 0;
};

absl::StatusOr<std::unique_ptr<ItemIndex>> LoadItemIndex(
    const std::string& path, absl::Span<const float> vectors, int32_t dim) {
  absl::StatusOr<std::shared_ptr<const ArtifactFile>> file = ArtifactFile::Open(path);
  if (!file.ok()) {
    if (absl::IsNotFound(file.status())) return file.status();
    return absl::DataLossError(absl::StrCat(path, ": unreadable: ", file.status().message()));
  }
  const absl::string_view bytes((*file)->data(), (*file)->size());
  if (absl::StartsWith(bytes, absl::string_view(kGraphMagic, sizeof(kGraphMagic)))) {
    // Our graph: viewed in place in the mapped file (nothing copied).
    if (dim < 1 || vectors.size() % dim != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "vectors has %d floats, not a multiple of dim %d", vectors.size(), dim));
    }
    return LoadGraphIndex(path, *file, bytes, dim, static_cast<int64_t>(vectors.size() / dim));
  }
  const size_t eol = bytes.find('\n');
  if (eol == std::string::npos) {
    return absl::DataLossError(absl::StrCat(path, ": not an item index (no header)"));
  }
  const std::string header(bytes.substr(0, std::min<size_t>(eol, 1024)));
  char magic[64] = {0};
  if (header.rfind(kExactMagic, 0) == 0) {
    long long n = 0;
    int d = 0;
    unsigned crc = 0;
    if (std::sscanf(header.c_str(), "%63s %lld %d %u", magic, &n, &d, &crc) != 4) {
      return absl::DataLossError(absl::StrCat(path, ": corrupt exact-index header"));
    }
    RETURN_IF_ERROR(CheckVectors(vectors, dim));
    if (d != dim || n != static_cast<long long>(vectors.size() / dim) ||
        crc != Crc32c(std::string_view(reinterpret_cast<const char*>(vectors.data()),
                                        vectors.size() * sizeof(float)))) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": exact index was built from other vectors (count, dim or checksum differ)"));
    }
    return std::unique_ptr<ItemIndex>(new ExactItemIndex(
        std::vector<float>(vectors.begin(), vectors.end()), dim));
  }
  long long size = 0;
  unsigned crc = 0;
  char factory[256] = {0};
  if (header.rfind("recbandit-faiss-index-v1 ", 0) != 0 ||
      std::sscanf(header.c_str(), "%63s %lld %u %255s", magic, &size, &crc, factory) != 4) {
    return absl::DataLossError(absl::StrCat(path, ": not an item index (bad header)"));
  }
  const absl::string_view body = absl::string_view(bytes).substr(eol + 1);
  if (static_cast<long long>(body.size()) != size) {
    return absl::DataLossError(absl::StrFormat("%s: truncated index: %d of %d bytes", path,
                                               body.size(), size));
  }
  if (Crc32c(ToStd(body)) != crc) {
    return absl::DataLossError(absl::StrCat(path, ": index checksum mismatch (corrupt file)"));
  }
  SpanIOReader reader(body);
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::read_index(&reader));
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": FAISS cannot read the index: ", e.what()));
  }
  if (index->d != dim || (!vectors.empty() && index->ntotal != static_cast<int64_t>(vectors.size() / dim))) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: index has %d vectors of dim %d, model has %d of dim %d", path, index->ntotal,
        index->d, vectors.size() / std::max(dim, 1), dim));
  }
  return std::unique_ptr<ItemIndex>(new FaissItemIndex(factory, std::move(index)));
}

SearchResult ExactTopK(absl::Span<const float> vectors, int32_t dim,
                       absl::Span<const float> query, int32_t k,
                       absl::Span<const int32_t> exclude) {
  SearchResult result;
  const int64_t n = static_cast<int64_t>(vectors.size()) / dim;
  TopKScan(vectors.data(), n, dim, query.data(), k, exclude, &result.ids, &result.scores);
  return result;
}

}  // namespace recbandit::retrieval
