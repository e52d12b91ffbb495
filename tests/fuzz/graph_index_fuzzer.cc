// Fuzzes the graph index loader (retrieval/graph_index.h): the input is a
// saved image whose CRC-32C the fuzzer recomputes (so mutations reach the
// structural checks behind the checksum, not only the checksum), then
// LoadGraphIndex either refuses it with DATA_LOSS or returns an index whose
// searches, with and without exclusions, return at most k distinct valid ids.
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "proto/core/file_util.h"
#include "retrieval/graph_index.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  if (size > 1 << 16) return 0;
  auto bytes = std::make_shared<std::string>(reinterpret_cast<const char*>(data), size);
  if (bytes->size() >= 128) {
    // The header's last 4 bytes: CRC of the header before them, then the body.
    const uint32_t head = Crc32c(std::string_view(bytes->data(), 124));
    const uint32_t crc = Crc32c(std::string_view(bytes->data() + 128, bytes->size() - 128), head);
    std::memcpy(bytes->data() + 124, &crc, 4);
  }
  const absl::string_view view(*bytes);
  absl::StatusOr<std::unique_ptr<retrieval::ItemIndex>> index =
      retrieval::LoadGraphIndex("fuzz", bytes, view, 0, 0);
  if (!index.ok()) {
    fuzz::Require(absl::IsDataLoss(index.status()), "a bad image is DATA_LOSS");
    return 0;
  }
  const int64_t n = (*index)->size();
  std::vector<float> query((*index)->dim(), 0.5f);
  query[0] = -1.0f;
  for (int32_t ef : {0, 1, 16}) {
    for (const std::vector<int32_t>& exclude :
         {std::vector<int32_t>{}, std::vector<int32_t>{0, 1, 2, 3}}) {
      retrieval::SearchResult r;
      fuzz::Require((*index)->Search(query, 5, exclude, retrieval::SearchParams{ef, 0}, &r).ok(),
                    "search of a loaded index succeeds");
      fuzz::Require(r.ids.size() <= 5 && r.ids.size() == r.scores.size(), "at most k results");
      std::set<int32_t> seen;
      for (int32_t id : r.ids) {
        fuzz::Require(id >= 0 && id < n, "ids are rows");
        fuzz::Require(seen.insert(id).second, "ids are distinct");
      }
    }
  }
  return 0;
}
