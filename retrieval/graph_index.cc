// GraphItemIndex: hnswlib builds the graph (concurrent inserts, inner
// product through our multiversioned kernel), then we copy it into one flat
// image: a header, the float32 vectors, the per-dimension SQ8 ranges, one
// fixed-size block per node ([count | neighbour ids | neighbours' codes]) and
// the small upper levels. Search descends the upper levels on floats, walks
// level 0 on int16 x uint8 dot products read from the expanded node's own
// block (one sequential read per expansion instead of one random row per
// neighbour), then re-ranks the beam on floats.
#include "retrieval/graph_index.h"

// hnswlib 0.6.2's build prefetches the id one past a full upper-level link
// list (hnswalg.h, searchBaseLayer), a 4-byte read past its allocation that
// AddressSanitizer reports. A prefetch never changes a result, and we pass our
// own inner product, so an ASan build compiles hnswlib without its manual
// vectorisation (SSE distances and those prefetches).
#if defined(__SANITIZE_ADDRESS__)
#define NO_MANUAL_VECTORIZATION
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_MANUAL_VECTORIZATION
#endif
#endif
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/file_util.h"
#include "proto/core/status_macros.h"
#include "retrieval/graph_kernels.h"
#include "retrieval/index_factory.h"
#include "retrieval/scan.h"

namespace recbandit::retrieval {
namespace {

// Version 2 added code_bits (4-bit codes); a version-1 file holds 8-bit codes
// and zero in that field, and still loads.
constexpr uint32_t kGraphVersion = 2;
constexpr uint64_t kAlign = 64;

// The fixed header at the start of an image (little-endian, 128 bytes).
struct GraphHeader {
  char magic[8];
  uint32_t version;
  uint32_t dim;
  uint64_t n;             // vectors (items)
  uint32_t m;             // upper-level degree
  uint32_t m0;            // level-0 degree (2m)
  uint32_t max_level;     // top level of the graph
  uint32_t entry;         // entry node (at max_level)
  uint32_t ef_search;     // default beam width
  uint32_t upper_count;   // nodes with level >= 1
  uint64_t upper_links;   // uint32 words in the upper link array
  uint64_t block_bytes;   // bytes per level-0 block
  char factory[32];       // NUL-padded factory string
  uint32_t code_bits;     // 8 or 4 (version 2; zero in version 1, meaning 8)
  uint8_t reserved[24];   // zero
  uint32_t crc;           // CRC-32C of the header before this field, then the body
};
static_assert(sizeof(GraphHeader) == 128, "graph header is 128 bytes");

uint64_t AlignUp(uint64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// 8-bit blocks: u32 count, u32 ids[m0], codes; 4-bit blocks: u32 ids[m0]
// (slots past the neighbours hold the node's own row), codes.
uint64_t BlockBytes(uint64_t m0, uint64_t dim, uint32_t bits) {
  const uint64_t row = static_cast<uint64_t>(CodeRowBytes(static_cast<int32_t>(bits),
                                                          static_cast<int32_t>(dim)));
  return AlignUp((bits == 4 ? 0 : 4) + 4 * m0 + m0 * row);
}

// Byte offsets of the sections, derived from the header alone.
struct Layout {
  uint64_t vectors, sq, blocks, upper_ids, upper_offsets, upper_links, end;
};

Layout ComputeLayout(const GraphHeader& h) {
  Layout l;
  l.vectors = AlignUp(sizeof(GraphHeader));
  l.sq = AlignUp(l.vectors + h.n * h.dim * 4);
  l.blocks = AlignUp(l.sq + 2ull * h.dim * 4);
  l.upper_ids = AlignUp(l.blocks + h.n * h.block_bytes);
  l.upper_offsets = AlignUp(l.upper_ids + 4ull * h.upper_count);
  l.upper_links = AlignUp(l.upper_offsets + 4ull * (h.upper_count + 1));
  l.end = l.upper_links + 4 * h.upper_links;
  return l;
}

// Returns x's code in [0, max_code] under the range (lo, scale).
inline uint8_t Encode(float x, float lo, float scale, int32_t max_code) {
  const float c = std::nearbyint((x - lo) / scale);
  return static_cast<uint8_t>(std::min(static_cast<float>(max_code), std::max(0.0f, c)));
}

// ------------------------------------------------------------- the index

using Node = std::pair<int32_t, int32_t>;  // (quantised score, id)

// Set in a beam entry's id once the node is expanded (ids are < 2^31).
constexpr int32_t kExpanded = std::numeric_limits<int32_t>::min();

// Per-thread buffers reused across queries (nothing allocated per search
// once they have grown).
struct Scratch {
  std::vector<uint16_t> stamp;  // visited when stamp[id] == generation
  uint16_t generation = 0;
  std::vector<Node> pool;        // the beam, best first (Walk)
  std::vector<Node> results;     // the allowed nodes re-ranked exactly
  std::vector<int32_t> todo;     // positions of unvisited neighbours in a block
  std::vector<int32_t> sims;
  std::vector<int16_t> wdim;     // the query, quantised for the codes, per dimension
  std::vector<int16_t> w;        // the same in the kernel's order (graph_kernels.h)
  std::vector<std::pair<float, int32_t>> reranked;

  void ResetVisited(size_t n) {
    if (stamp.size() < n) stamp.assign(n, 0);
    if (++generation == 0) {  // wrapped: clear once every 65535 queries
      std::fill(stamp.begin(), stamp.end(), 0);
      generation = 1;
    }
  }
};

// Immutable after construction: Search is thread-safe.
class GraphItemIndex final : public ItemIndex {
 public:
  // REQUIRES: `bytes` is an image LoadGraphIndex checked (or Build wrote).
  GraphItemIndex(std::shared_ptr<const void> owner, absl::string_view bytes)
      : owner_(std::move(owner)), bytes_(bytes) {
    std::memcpy(&h_, bytes.data(), sizeof(h_));
    const Layout l = ComputeLayout(h_);
    const char* base = bytes.data();
    factory_ = std::string(h_.factory, strnlen(h_.factory, sizeof(h_.factory)));
    dim_ = static_cast<int32_t>(h_.dim);
    n_ = static_cast<int64_t>(h_.n);
    vectors_ = reinterpret_cast<const float*>(base + l.vectors);
    sq_min_ = reinterpret_cast<const float*>(base + l.sq);
    sq_scale_ = sq_min_ + dim_;
    blocks_ = base + l.blocks;
    upper_ids_ = reinterpret_cast<const uint32_t*>(base + l.upper_ids);
    upper_offsets_ = reinterpret_cast<const uint32_t*>(base + l.upper_offsets);
    upper_links_ = reinterpret_cast<const uint32_t*>(base + l.upper_links);
    code_bits_ = h_.version == 1 ? 8 : static_cast<int32_t>(h_.code_bits);
    max_code_ = (1 << code_bits_) - 1;
    row_bytes_ = CodeRowBytes(code_bits_, dim_);
    ids_offset_ = code_bits_ == 4 ? 0 : 4;
    codes_offset_ = ids_offset_ + 4 * static_cast<int32_t>(h_.m0);
    score_ = BestCodeScoreFn(code_bits_);
  }

  absl::Status Search(absl::Span<const float> query, int32_t k,
                      absl::Span<const int32_t> exclude, const SearchParams& params,
                      SearchResult* out) const override {
    if (static_cast<int64_t>(query.size()) != dim_) {
      return absl::InvalidArgumentError(
          absl::StrFormat("query has %d floats, index dim is %d", query.size(), dim_));
    }
    if (k < 1) return absl::InvalidArgumentError(absl::StrCat("k must be >= 1, got ", k));
    if (!std::is_sorted(exclude.begin(), exclude.end())) {
      return absl::InvalidArgumentError("exclude ids must be sorted ascending");
    }
    if (params.ef_search < 0 || params.ef_search > kMaxBeam) {
      return absl::InvalidArgumentError(
          absl::StrCat("ef_search must be in [0, ", kMaxBeam, "], got ", params.ef_search));
    }
    for (float v : query) {
      if (!std::isfinite(v)) return absl::InvalidArgumentError("query contains NaN or infinity");
    }
    if (params.nprobe < 0) {
      return absl::InvalidArgumentError(absl::StrCat("nprobe must be >= 0, got ", params.nprobe));
    }
    int64_t excluded = 0;
    for (size_t i = 0; i < exclude.size(); ++i) {
      if (exclude[i] < 0 || exclude[i] >= n_ || (i > 0 && exclude[i] == exclude[i - 1])) continue;
      ++excluded;
    }
    const int32_t want = static_cast<int32_t>(std::min<int64_t>(k, n_ - excluded));
    out->ids.clear();
    out->scores.clear();
    if (want <= 0) return absl::OkStatus();
    int64_t ef = params.ef_search > 0 ? params.ef_search : h_.ef_search;
    for (;;) {
      Walk(query.data(), want, static_cast<int32_t>(ef), exclude, out);
      if (static_cast<int32_t>(out->ids.size()) >= want) return absl::OkStatus();
      if (ef >= kMaxBeam || ef >= n_) break;
      ef = std::min<int64_t>(ef * 4, kMaxBeam);
    }
    // Exclusions cut the graph short of k: finish with an exact scan.
    TopKScan(vectors_, n_, dim_, query.data(), want, exclude, &out->ids, &out->scores);
    return absl::OkStatus();
  }

  absl::Status Save(const std::string& path) const override {
    return WriteFileAtomically(path, std::string_view(bytes_.data(), bytes_.size()));
  }

  const std::string& factory() const override { return factory_; }
  int64_t size() const override { return n_; }
  int32_t dim() const override { return dim_; }
  bool exact() const override { return false; }

 private:
  const char* Block(int64_t id) const { return blocks_ + id * h_.block_bytes; }

  void PrefetchBlock(int64_t id) const {
    const char* b = Block(id);
    for (uint64_t off = 0; off < h_.block_bytes; off += 64) __builtin_prefetch(b + off);
  }

  // How many beam nodes are re-ranked exactly for `want` results: 4k, at
  // least 32 (at 100k x 64 recall@10 is the same as re-ranking the whole
  // beam of 192 or 256; bench/RESULTS.md).
  static size_t RerankCount(int32_t want) {
    return std::max<size_t>(32, 4 * static_cast<size_t>(want));
  }

  float Dot(int64_t id, const float* q) const {
    float s = 0;
    InnerProducts(vectors_ + id * dim_, 1, dim_, q, &s);
    return s;
  }

  // Returns the upper-level neighbour list of `id` at `level` (count in
  // *count), or nullptr when the node does not reach that level.
  const uint32_t* UpperLinks(uint32_t id, uint32_t level, uint32_t* count) const {
    const uint32_t* end = upper_ids_ + h_.upper_count;
    const uint32_t* it = std::lower_bound(upper_ids_, end, id);
    if (it == end || *it != id) return nullptr;
    const size_t i = static_cast<size_t>(it - upper_ids_);
    const uint32_t stride = h_.m + 1;
    if (level < 1 || (upper_offsets_[i + 1] - upper_offsets_[i]) / stride < level) return nullptr;
    const uint32_t* p = upper_links_ + upper_offsets_[i] + (level - 1) * stride;
    *count = std::min(p[0], h_.m);
    return p + 1;
  }

  // One beam search of width max(ef, want): fills `out` with up to `want`
  // allowed items, exactly scored, best first.
  void Walk(const float* q, int32_t want, int32_t ef, absl::Span<const int32_t> exclude,
            SearchResult* out) const {
    thread_local Scratch scratch;
    Scratch& s = scratch;
    // Greedy descent through the upper levels, on floats.
    uint32_t cur = h_.entry;
    float cur_sim = Dot(cur, q);
    for (uint32_t level = h_.max_level; level >= 1; --level) {
      for (bool changed = true; changed;) {
        changed = false;
        uint32_t count = 0;
        const uint32_t* links = UpperLinks(cur, level, &count);
        for (uint32_t j = 0; links != nullptr && j < count; ++j) {
          const float sim = Dot(links[j], q);
          if (sim > cur_sim) {
            cur_sim = sim;
            cur = links[j];
            changed = true;
          }
        }
      }
    }
    // The query in the codes' terms: score(x) ~ sum_j q_j (lo_j + scale_j c_j),
    // ranked by sum_j w_j c_j with w_j = q_j scale_j quantised to int16
    // (bounded so that the int32 sum cannot overflow).
    // (Doubles: q_j scale_j cannot overflow; the query is finite.)
    double wmax = 0;
    for (int32_t j = 0; j < dim_; ++j) {
      wmax = std::max(wmax, std::fabs(static_cast<double>(q[j]) * sq_scale_[j]));
    }
    const double limit = std::min(32767.0, std::floor(2147483647.0 / (static_cast<double>(max_code_) * dim_)));
    const double wq = wmax > 0 ? limit / wmax : 0;
    s.wdim.resize(dim_);
    for (int32_t j = 0; j < dim_; ++j) {
      s.wdim[j] = static_cast<int16_t>(std::nearbyint(static_cast<double>(q[j]) * sq_scale_[j] * wq));
    }
    if (code_bits_ == 4) {  // even dimensions' weights, then odd ones' (zero past dim)
      s.w.assign(2 * static_cast<size_t>(row_bytes_), 0);
      for (int32_t j = 0; j < dim_; ++j) s.w[(j % 2) * row_bytes_ + j / 2] = s.wdim[j];
    } else {
      s.w = s.wdim;
    }
    auto allowed = [&](int32_t id) {
      return exclude.empty() || !std::binary_search(exclude.begin(), exclude.end(), id);
    };
    s.ResetVisited(static_cast<size_t>(n_));
    int32_t entry_score = 0;
    {
      const float* x = vectors_ + static_cast<int64_t>(cur) * dim_;
      for (int32_t j = 0; j < dim_; ++j) {
        entry_score +=
            static_cast<int32_t>(Encode(x[j], sq_min_[j], sq_scale_[j], max_code_)) * s.wdim[j];
      }
    }
    // The beam: the best `width` nodes seen so far by code score, sorted
    // best first (ties: earlier insertion first), each flagged once expanded
    // (kExpanded in the id). The walk always expands the best unexpanded
    // node and stops when every node of the beam is expanded: hnswlib's
    // search with its two heaps replaced by one sorted array (an insertion
    // is a binary search and a short memmove; no heap sift per push/pop).
    // Excluded nodes stay in the beam (the walk passes through them); the
    // results are the beam's allowed nodes, and Search widens the beam when
    // they are fewer than `want`.
    const int32_t width = std::max(ef, want);
    s.pool.resize(static_cast<size_t>(width) + 1);
    Node* pool = s.pool.data();
    int32_t size = 0;
    auto insert = [&](int32_t score, int32_t id) -> int32_t {
      // The first position whose score is below `score`, by a branch-free
      // binary search (the comparisons are unpredictable).
      int32_t lo = 0;
      if (size > 0) {
        const Node* at = pool;
        for (int32_t len = size; len > 1;) {
          const int32_t half = len / 2;
          at = at[half].first >= score ? at + half : at;
          len -= half;
        }
        lo = static_cast<int32_t>(at - pool) + (at->first >= score ? 1 : 0);
      }
      if (lo >= width) return width;
      std::copy_backward(pool + lo, pool + size, pool + size + 1);
      pool[lo] = Node(score, id);
      if (size < width) ++size;
      return lo;
    };
    auto next_unexpanded = [&](int32_t from) {
      while (from < size && (pool[from].second & kExpanded) != 0) ++from;
      return from;
    };
    s.stamp[cur] = s.generation;
    insert(entry_score, static_cast<int32_t>(cur));
    s.todo.resize(h_.m0);
    s.sims.resize(h_.m0);
    int32_t k = 0;
    while (k < size) {
      const int32_t c = pool[k].second;
      pool[k].second |= kExpanded;
      // The next node to expand unless this one's neighbours beat it: start
      // loading its block while this one is scored.
      const int32_t after = next_unexpanded(k + 1);
      const int32_t prefetched = after < size ? pool[after].second : -1;
      if (prefetched >= 0) PrefetchBlock(prefetched);
      const char* block = Block(c);
      // 4-bit blocks pad with the node's own row, always visited already.
      uint32_t count = h_.m0;
      if (ids_offset_ != 0) {
        std::memcpy(&count, block, 4);
        count = std::min<uint32_t>(count, h_.m0);
      }
      const uint32_t* ids = reinterpret_cast<const uint32_t*>(block + ids_offset_);
      const uint8_t* codes = reinterpret_cast<const uint8_t*>(block + codes_offset_);
      int32_t todo = 0;
      for (uint32_t j = 0; j < count; ++j) {
        uint16_t& st = s.stamp[ids[j]];
        if (st == s.generation) continue;
        st = s.generation;
        s.todo[todo++] = static_cast<int32_t>(j);
      }
      score_(codes, dim_, s.todo.data(), todo, s.w.data(), s.sims.data());
      int32_t best_new = width;
      for (int32_t t = 0; t < todo; ++t) {
        const int32_t sim = s.sims[t];
        if (size == width && sim <= pool[width - 1].first) continue;
        best_new = std::min(best_new, insert(sim, static_cast<int32_t>(ids[s.todo[t]])));
      }
      k = best_new <= k ? best_new : next_unexpanded(k + 1);
      // A neighbour just inserted leads now: load its block instead.
      if (k < size && pool[k].second != prefetched) PrefetchBlock(pool[k].second);
    }
    // Exact re-rank on the float vectors of the best RerankCount(want)
    // allowed nodes of the beam by code score. The codes order the beam
    // well enough that its tail almost never reaches the top k, and each
    // re-ranked row is a random read of dim * 4 bytes.
    s.results.clear();
    const size_t keep = RerankCount(want);
    for (int32_t j = 0; j < size && s.results.size() < keep; ++j) {
      const int32_t id = pool[j].second & ~kExpanded;
      if (allowed(id)) s.results.emplace_back(pool[j].first, id);
    }
    for (const Node& r : s.results) {
      const char* row = reinterpret_cast<const char*>(vectors_ + static_cast<int64_t>(r.second) * dim_);
      for (int32_t off = 0; off < dim_ * 4; off += 64) __builtin_prefetch(row + off);
    }
    s.reranked.clear();
    for (const Node& r : s.results) s.reranked.emplace_back(Dot(r.second, q), r.second);
    const size_t n = std::min<size_t>(want, s.reranked.size());
    std::partial_sort(s.reranked.begin(), s.reranked.begin() + n, s.reranked.end(),
                      [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
                        return a.first != b.first ? a.first > b.first : a.second < b.second;
                      });
    out->ids.clear();
    out->scores.clear();
    for (size_t j = 0; j < n; ++j) {
      out->ids.push_back(s.reranked[j].second);
      out->scores.push_back(s.reranked[j].first);
    }
  }

  std::shared_ptr<const void> owner_;
  absl::string_view bytes_;
  GraphHeader h_;
  std::string factory_;
  int32_t dim_ = 0;
  int64_t n_ = 0;
  const float* vectors_ = nullptr;
  const float* sq_min_ = nullptr;
  const float* sq_scale_ = nullptr;
  const char* blocks_ = nullptr;
  const uint32_t* upper_ids_ = nullptr;
  const uint32_t* upper_offsets_ = nullptr;
  const uint32_t* upper_links_ = nullptr;
  int32_t code_bits_ = 8;     // 8 or 4
  int32_t max_code_ = 255;    // 2^code_bits - 1
  int32_t row_bytes_ = 0;     // bytes of one code row
  int32_t ids_offset_ = 4;    // of the neighbour ids in a block
  int32_t codes_offset_ = 0;  // of the code rows in a block
  CodeScoreFn score_ = nullptr;
};

// ------------------------------------------------------------- building

// hnswlib's inner-product space with our multiversioned kernel (hnswlib's
// own picks its SIMD at compile time, i.e. SSE in a portable build).
class IpSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit IpSpace(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &Distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  static float Distance(const void* a, const void* b, const void* param) {
    float s = 0;
    InnerProducts(static_cast<const float*>(a), 1,
                  static_cast<int32_t>(*static_cast<const size_t*>(param)),
                  static_cast<const float*>(b), &s);
    return 1.0f - s;
  }
  size_t dim_;
};

uint32_t ImageCrc(absl::string_view bytes) {
  const uint32_t head = Crc32c(std::string_view(bytes.data(), offsetof(GraphHeader, crc)));
  return Crc32c(std::string_view(bytes.data() + sizeof(GraphHeader),
                                 bytes.size() - sizeof(GraphHeader)),
                head);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ItemIndex>> BuildGraphIndex(const std::string& factory,
                                                           int32_t m, int32_t code_bits,
                                                           absl::Span<const float> vectors,
                                                           int32_t dim,
                                                           const IndexBuildOptions& options) {
  const int64_t n = static_cast<int64_t>(vectors.size()) / dim;
  if (n > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError("a graph index holds at most 2^31 - 1 items");
  }
  if (code_bits != 8 && code_bits != 4) {
    return absl::InvalidArgumentError(absl::StrCat("graph codes are 8 or 4 bits, got ", code_bits));
  }
  if (factory.size() >= sizeof(GraphHeader::factory)) {
    return absl::InvalidArgumentError("graph factory string too long");
  }
  IpSpace space(static_cast<size_t>(dim));
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> g;
  try {
    g = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        &space, static_cast<size_t>(n), static_cast<size_t>(m),
        static_cast<size_t>(options.hnsw_ef_construction), static_cast<size_t>(options.seed));
    // The first item alone (it becomes the entry point), then batches
    // inserted by `threads` threads taking items in turn.
    g->addPoint(vectors.data(), 0);
    const int threads = std::max(1, options.threads);
    const int64_t batch = std::max<int64_t>(kIndexAddBatch, (n + 19) / 20);
    std::exception_ptr error;
    std::atomic<bool> failed{false};
    for (int64_t start = 1; start < n; start += batch) {
      const int64_t end = std::min(n, start + batch);
      std::atomic<int64_t> next{start};
      auto work = [&] {
        try {
          for (int64_t i = next.fetch_add(1); i < end && !failed; i = next.fetch_add(1)) {
            g->addPoint(vectors.data() + i * dim, static_cast<size_t>(i));
          }
        } catch (...) {
          if (!failed.exchange(true)) error = std::current_exception();
        }
      };
      std::vector<std::thread> pool;
      for (int t = 1; t < threads; ++t) pool.emplace_back(work);
      work();
      for (auto& th : pool) th.join();
      if (failed) std::rethrow_exception(error);
      if (options.progress) options.progress(end, n);
    }
    if (n == 1 && options.progress) options.progress(1, n);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("hnswlib cannot build the graph: ", e.what()));
  }

  // Per-dimension ranges for the codes.
  std::vector<float> lo(dim, std::numeric_limits<float>::max());
  std::vector<float> hi(dim, std::numeric_limits<float>::lowest());
  for (int64_t i = 0; i < n; ++i) {
    for (int32_t j = 0; j < dim; ++j) {
      lo[j] = std::min(lo[j], vectors[i * dim + j]);
      hi[j] = std::max(hi[j], vectors[i * dim + j]);
    }
  }
  const int32_t max_code = (1 << code_bits) - 1;
  std::vector<float> scale(dim);
  for (int32_t j = 0; j < dim; ++j) {
    scale[j] = (hi[j] - lo[j]) / static_cast<float>(max_code);
    if (!(std::isfinite(scale[j]) && scale[j] > 0)) scale[j] = 1.0f;  // constant or vast range
  }

  // Internal ids (insertion order) -> item rows, and the upper-level nodes.
  std::vector<uint32_t> label(n);
  for (int64_t i = 0; i < n; ++i) label[i] = static_cast<uint32_t>(g->getExternalLabel(i));
  std::vector<std::pair<uint32_t, int64_t>> upper;  // (row, internal id)
  for (int64_t i = 0; i < n; ++i) {
    if (g->element_levels_[i] > 0) upper.emplace_back(label[i], i);
  }
  std::sort(upper.begin(), upper.end());

  GraphHeader h;
  std::memset(&h, 0, sizeof(h));
  std::memcpy(h.magic, kGraphMagic, sizeof(h.magic));
  h.version = kGraphVersion;
  h.dim = static_cast<uint32_t>(dim);
  h.n = static_cast<uint64_t>(n);
  h.m = static_cast<uint32_t>(g->maxM_);
  h.m0 = static_cast<uint32_t>(g->maxM0_);
  h.max_level = static_cast<uint32_t>(std::max(0, g->maxlevel_));
  h.entry = label[g->enterpoint_node_];
  h.ef_search = static_cast<uint32_t>(options.hnsw_ef_search);
  h.upper_count = static_cast<uint32_t>(upper.size());
  uint64_t links = 0;
  for (const auto& u : upper) links += static_cast<uint64_t>(g->element_levels_[u.second]) * (h.m + 1);
  h.upper_links = links;
  h.code_bits = static_cast<uint32_t>(code_bits);
  h.block_bytes = BlockBytes(h.m0, h.dim, h.code_bits);
  std::memcpy(h.factory, factory.data(), factory.size());
  const Layout l = ComputeLayout(h);
  auto image = std::make_shared<std::string>(l.end, '\0');
  char* base = image->data();
  std::memcpy(base + l.vectors, vectors.data(), vectors.size() * sizeof(float));
  std::memcpy(base + l.sq, lo.data(), dim * sizeof(float));
  std::memcpy(base + l.sq + dim * sizeof(float), scale.data(), dim * sizeof(float));
  // Codes of every item once (4 bits: dimension 2b in byte b's low nibble,
  // 2b+1 in its high one), then copied beside each adjacency.
  const size_t row = static_cast<size_t>(CodeRowBytes(code_bits, dim));
  std::vector<uint8_t> codes(static_cast<size_t>(n) * row, 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int32_t j = 0; j < dim; ++j) {
      const uint8_t c = Encode(vectors[i * dim + j], lo[j], scale[j], max_code);
      if (code_bits == 4) {
        codes[i * row + j / 2] |= static_cast<uint8_t>(c << (4 * (j % 2)));
      } else {
        codes[i * row + j] = c;
      }
    }
  }
  const size_t ids_offset = code_bits == 4 ? 0 : 4;
  for (int64_t i = 0; i < n; ++i) {
    hnswlib::linklistsizeint* ll = g->get_linklist0(static_cast<hnswlib::tableint>(i));
    const uint32_t count = std::min<uint32_t>(g->getListCount(ll), h.m0);
    const hnswlib::tableint* nbs = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
    char* block = base + l.blocks + label[i] * h.block_bytes;
    if (code_bits == 8) std::memcpy(block, &count, 4);
    uint32_t* ids = reinterpret_cast<uint32_t*>(block + ids_offset);
    uint8_t* block_codes = reinterpret_cast<uint8_t*>(block + ids_offset + 4 * h.m0);
    for (uint32_t j = 0; j < count; ++j) {
      ids[j] = label[nbs[j]];
      std::memcpy(block_codes + j * row, codes.data() + ids[j] * row, row);
    }
    if (code_bits == 4) {
      for (uint32_t j = count; j < h.m0; ++j) ids[j] = label[i];
    }
  }
  uint32_t* upper_ids = reinterpret_cast<uint32_t*>(base + l.upper_ids);
  uint32_t* upper_offsets = reinterpret_cast<uint32_t*>(base + l.upper_offsets);
  uint32_t* upper_links = reinterpret_cast<uint32_t*>(base + l.upper_links);
  uint32_t off = 0;
  for (size_t u = 0; u < upper.size(); ++u) {
    upper_ids[u] = upper[u].first;
    upper_offsets[u] = off;
    const int64_t i = upper[u].second;
    for (int level = 1; level <= g->element_levels_[i]; ++level) {
      hnswlib::linklistsizeint* ll = g->get_linklist(static_cast<hnswlib::tableint>(i), level);
      const uint32_t count = std::min<uint32_t>(g->getListCount(ll), h.m);
      const hnswlib::tableint* nbs = reinterpret_cast<const hnswlib::tableint*>(ll + 1);
      upper_links[off] = count;
      for (uint32_t j = 0; j < count; ++j) upper_links[off + 1 + j] = label[nbs[j]];
      off += h.m + 1;
    }
  }
  upper_offsets[upper.size()] = off;
  std::memcpy(base, &h, sizeof(h));
  h.crc = ImageCrc(*image);
  std::memcpy(base, &h, sizeof(h));
  const absl::string_view bytes(*image);
  return std::unique_ptr<ItemIndex>(new GraphItemIndex(std::move(image), bytes));
}

absl::StatusOr<std::unique_ptr<ItemIndex>> LoadGraphIndex(const std::string& name,
                                                          std::shared_ptr<const void> owner,
                                                          absl::string_view bytes,
                                                          int32_t expected_dim,
                                                          int64_t expected_items) {
  auto loss = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(name, ": corrupt graph index: ", why));
  };
  if (bytes.size() < sizeof(GraphHeader)) return loss("shorter than its header");
  if (reinterpret_cast<uintptr_t>(bytes.data()) % 4 != 0) return loss("misaligned image");
  GraphHeader h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  if (std::memcmp(h.magic, kGraphMagic, sizeof(h.magic)) != 0) return loss("bad magic");
  if (h.version != 1 && h.version != kGraphVersion) {
    return loss(absl::StrCat("version ", h.version, " (this build reads 1 and ", kGraphVersion, ")"));
  }
  if (h.version == 1 ? h.code_bits != 0 : (h.code_bits != 8 && h.code_bits != 4)) {
    return loss(absl::StrCat("code bits ", h.code_bits, " (version ", h.version,
                             " holds 8 or 4; 0 in version 1)"));
  }
  const uint32_t bits = h.version == 1 ? 8 : h.code_bits;
  if (h.dim < 1 || h.dim > static_cast<uint32_t>(kMaxIndexDim)) return loss("dimension out of range");
  if (h.n < 1 || h.n > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return loss("item count out of range");
  }
  if (h.m < static_cast<uint32_t>(kMinHnswM) || h.m > static_cast<uint32_t>(kMaxHnswM) ||
      h.m0 != 2 * h.m) {
    return loss("graph degree out of range");
  }
  if (h.max_level > 64 || h.entry >= h.n || h.upper_count > h.n) return loss("levels out of range");
  if (h.ef_search < 1 || h.ef_search > static_cast<uint32_t>(kMaxBeam)) return loss("bad ef_search");
  if (h.block_bytes != BlockBytes(h.m0, h.dim, bits)) return loss("bad block size");
  if (h.upper_links > (uint64_t{1} << 32) - 1 ||
      h.upper_links > static_cast<uint64_t>(h.upper_count) * 65 * (h.m + 1)) {
    return loss("upper links out of range");
  }
  const std::string factory(h.factory, strnlen(h.factory, sizeof(h.factory)));
  absl::StatusOr<IndexSpec> spec = ParseIndexFactory(factory, static_cast<int32_t>(h.dim));
  if (!spec.ok() || spec->kind != IndexSpec::Kind::kGraph ||
      spec->hnsw_m != static_cast<int32_t>(h.m) || spec->sq_type != absl::StrCat(bits)) {
    return loss("bad factory string");
  }
  const Layout l = ComputeLayout(h);
  if (bytes.size() < l.end) {
    return loss(absl::StrFormat("truncated: %d of %d bytes", bytes.size(), l.end));
  }
  if (bytes.size() != l.end) return loss("trailing bytes");
  if (ImageCrc(bytes) != h.crc) return loss("checksum mismatch");
  if (expected_dim > 0 && static_cast<uint32_t>(expected_dim) != h.dim) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: graph index has vectors of dim %d, model has dim %d", name, h.dim, expected_dim));
  }
  if (expected_items > 0 && static_cast<uint64_t>(expected_items) != h.n) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: graph index has %d vectors, model has %d", name, h.n, expected_items));
  }
  // Every id the search follows must name a row.
  const char* base = bytes.data();
  for (uint64_t i = 0; i < h.n; ++i) {
    const char* block = base + l.blocks + i * h.block_bytes;
    uint32_t count = h.m0;  // 4-bit blocks: every slot holds a row
    if (bits == 8) std::memcpy(&count, block, 4);
    if (count > h.m0) return loss("level-0 neighbour count out of range");
    const uint32_t* ids = reinterpret_cast<const uint32_t*>(block + (bits == 8 ? 4 : 0));
    for (uint32_t j = 0; j < count; ++j) {
      if (ids[j] >= h.n) return loss("level-0 neighbour id out of range");
    }
  }
  const float* sq = reinterpret_cast<const float*>(base + l.sq);
  for (uint32_t j = 0; j < h.dim; ++j) {
    if (!std::isfinite(sq[j]) || !std::isfinite(sq[h.dim + j]) || !(sq[h.dim + j] > 0)) {
      return loss("bad quantiser range");
    }
  }
  const uint32_t* upper_ids = reinterpret_cast<const uint32_t*>(base + l.upper_ids);
  const uint32_t* upper_offsets = reinterpret_cast<const uint32_t*>(base + l.upper_offsets);
  const uint32_t* upper_links = reinterpret_cast<const uint32_t*>(base + l.upper_links);
  const uint32_t stride = h.m + 1;
  if (upper_offsets[0] != 0 || upper_offsets[h.upper_count] != h.upper_links) {
    return loss("upper offsets out of range");
  }
  for (uint32_t u = 0; u < h.upper_count; ++u) {
    if (upper_ids[u] >= h.n || (u > 0 && upper_ids[u] <= upper_ids[u - 1])) {
      return loss("upper node ids out of order");
    }
    const uint32_t a = upper_offsets[u], b = upper_offsets[u + 1];
    if (b <= a || b > h.upper_links || (b - a) % stride != 0 || (b - a) / stride > h.max_level) {
      return loss("upper offsets out of range");
    }
    for (uint32_t p = a; p < b; p += stride) {
      if (upper_links[p] > h.m) return loss("upper neighbour count out of range");
      for (uint32_t j = 0; j < upper_links[p]; ++j) {
        if (upper_links[p + 1 + j] >= h.n) return loss("upper neighbour id out of range");
      }
    }
  }
  const float* vectors = reinterpret_cast<const float*>(base + l.vectors);
  for (uint64_t i = 0; i < h.n * h.dim; ++i) {
    if (!std::isfinite(vectors[i])) return loss("vectors contain NaN or infinity");
  }
  return std::unique_ptr<ItemIndex>(new GraphItemIndex(std::move(owner), bytes));
}

}  // namespace recbandit::retrieval
