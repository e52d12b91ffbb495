// Fuzzes the interactions loader (ranking/interactions.h): any bytes either
// parse into valid rows (UTF-8 ids, finite weights >= 0) or fail with
// INVALID_ARGUMENT naming "fuzz.csv:<line>"; never a crash.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "proto/core/names.h"
#include "ranking/interactions.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const bool skip : {false, true}) {
    ranking::LoadOptions options;
    options.skip_bad_lines = skip;
    ranking::LoadStats stats;
    absl::StatusOr<ranking::InteractionLog> log =
        ranking::ParseInteractions(text, "fuzz.csv", options, &stats);
    if (!log.ok()) {
      fuzz::Require(!skip, "skip_bad_lines never fails");
      fuzz::Require(absl::IsInvalidArgument(log.status()), "bad input is INVALID_ARGUMENT");
      fuzz::Require(log.status().message().rfind("fuzz.csv:", 0) == 0, "error names file:line");
      continue;
    }
    for (int32_t i = 0; i < log->users.size(); ++i) {
      fuzz::Require(IsValidUtf8(log->users.Name(i)), "user ids are UTF-8");
    }
    for (int32_t i = 0; i < log->items.size(); ++i) {
      fuzz::Require(IsValidUtf8(log->items.Name(i)), "item ids are UTF-8");
    }
    for (float w : log->weight) fuzz::Require(std::isfinite(w) && w >= 0, "weights finite, >= 0");
  }
  return 0;
}
