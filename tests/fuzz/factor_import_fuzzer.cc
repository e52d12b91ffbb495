// Fuzzes the readers of factors trained elsewhere (ranking/factor_import.h):
// the same bytes as a .npy file, a CSV factor file and an id list. Each
// either fails with INVALID_ARGUMENT or returns a matrix whose size is
// rows x cols (cols in 1..1024, every value finite) or unique ids; a header
// declaring a huge shape never allocates (-rss_limit_mb catches it).
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "ranking/factor_import.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void CheckMatrix(const absl::StatusOr<recbandit::ranking::FactorMatrix>& m) {
  using recbandit::fuzz::Require;
  if (!m.ok()) {
    Require(absl::IsInvalidArgument(m.status()), "a bad factor file is INVALID_ARGUMENT");
    return;
  }
  Require(m->rows >= 1 && m->cols >= 1 && m->cols <= recbandit::ranking::kMaxImportFactors,
          "rows and cols in range");
  Require(m->values.size() == static_cast<size_t>(m->rows) * m->cols, "rows x cols values");
  for (float v : m->values) Require(std::isfinite(v), "every value finite");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  if (size > 1 << 16) return 0;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckMatrix(ranking::ParseNpyMatrix(bytes, "fuzz.npy"));
  CheckMatrix(ranking::ParseCsvMatrix(bytes, "fuzz.csv"));
  absl::StatusOr<ranking::IdMap> ids = ranking::ParseIdList(bytes, "fuzz.txt", "user");
  if (!ids.ok()) {
    fuzz::Require(absl::IsInvalidArgument(ids.status()), "a bad id list is INVALID_ARGUMENT");
    return 0;
  }
  absl::flat_hash_set<std::string> seen;
  for (int32_t i = 0; i < ids->size(); ++i) {
    fuzz::Require(!ids->Name(i).empty(), "ids are not empty");
    fuzz::Require(seen.insert(ids->Name(i)).second, "ids are unique");
  }
  return 0;
}
