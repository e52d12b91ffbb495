// Fuzzes index factory strings (retrieval/index_factory.h): what the grammar
// accepts respects its bounds and, for the kinds that build quickly, builds
// through FAISS over a few vectors without aborting; what it refuses is
// INVALID_ARGUMENT. First byte: the dimension (1..64).
#include <cstdint>
#include <string>
#include <vector>

#include "retrieval/index_factory.h"
#include "retrieval/item_index.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  using retrieval::IndexSpec;
  if (size < 1 || size > 200) return 0;
  const int32_t dim = 1 + data[0] % 64;
  const int64_t items = 64;
  const std::string factory(reinterpret_cast<const char*>(data) + 1, size - 1);
  absl::StatusOr<IndexSpec> spec = retrieval::ParseIndexFactory(factory, dim, items);
  if (!spec.ok()) {
    fuzz::Require(absl::IsInvalidArgument(spec.status()), "refusals are INVALID_ARGUMENT");
    return 0;
  }
  if (spec->kind == IndexSpec::Kind::kHnsw) {
    fuzz::Require(spec->hnsw_m >= retrieval::kMinHnswM && spec->hnsw_m <= retrieval::kMaxHnswM,
                  "HNSW M within bounds");
  }
  if (spec->kind == IndexSpec::Kind::kIvf) {
    fuzz::Require(spec->ivf_lists >= 1 && spec->ivf_lists <= items, "nlist within bounds");
  }
  const bool pq = spec->kind == IndexSpec::Kind::kPq || spec->fine == IndexSpec::Kind::kPq;
  if (pq) {
    fuzz::Require(dim % spec->pq_m == 0 && (int64_t{1} << spec->pq_bits) <= items,
                  "PQ m divides d and 2^nbits <= items");
    return 0;  // FAISS trains PQ codebooks slowly: covered by index_factory_test
  }
  std::vector<float> vectors(static_cast<size_t>(items) * dim);
  for (size_t i = 0; i < vectors.size(); ++i) vectors[i] = static_cast<float>((i * 7919) % 101) - 50;
  retrieval::IndexBuildOptions options;
  options.hnsw_ef_construction = 16;
  absl::StatusOr<std::unique_ptr<retrieval::ItemIndex>> index =
      retrieval::BuildItemIndex(factory, vectors, dim, options);
  fuzz::Require(index.ok(), "an accepted non-PQ factory string builds");
  retrieval::SearchResult top;
  fuzz::Require((*index)->Search(absl::MakeConstSpan(vectors.data(), dim), 5, {}, {}, &top).ok(),
                "search works");
  return 0;
}
