// Fuzzes the OPE readers of exported logs (bandits/ope/ope_input.h,
// bandits/ope/logged_data.h): the bytes are written as an exported CSV and as a
// JSONL file; each reader either fails with INVALID_ARGUMENT (or DATA_LOSS)
// or returns rounds with propensities in (0, 1].
#include <cmath>
#include <cstdint>
#include <string>

#include "bandits/ope/logged_data.h"
#include "bandits/ope/ope_input.h"
#include "proto/core/file_util.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  if (size > 1 << 16) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string csv = fuzz::ScratchDir() + "/log.csv";
  const std::string jsonl = fuzz::ScratchDir() + "/log.jsonl";
  (void)WriteFileAtomically(csv, bytes);
  (void)WriteFileAtomically(jsonl, bytes);
  for (const bool full : {false, true}) {
    bandits::ExportReadOptions options;
    options.full = full;
    absl::StatusOr<bandits::ExportRounds> rounds = bandits::ReadExportCsv(csv, options);
    if (!rounds.ok()) {
      fuzz::Require(absl::IsInvalidArgument(rounds.status()) || absl::IsDataLoss(rounds.status()),
                    "a bad export is INVALID_ARGUMENT or DATA_LOSS");
    }
  }
  absl::StatusOr<bandits::LoggedData> logged = bandits::ReadLoggedDataFromFile(jsonl);
  if (logged.ok()) {
    bandits::ExportReadOptions options;
    absl::StatusOr<bandits::ExportRounds> rounds =
        bandits::RoundsFromLoggedData(*logged, options, "fuzz.jsonl");
    (void)rounds;
  } else {
    fuzz::Require(absl::IsInvalidArgument(logged.status()) || absl::IsDataLoss(logged.status()),
                  "a bad JSONL export is INVALID_ARGUMENT or DATA_LOSS");
  }
  return 0;
}
