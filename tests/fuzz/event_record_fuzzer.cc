// Fuzzes the event-log record decoding path (bandits/log/log_format.md): bytes
// parsed as a stored DecisionEvent and RewardRecord, then turned into an
// export row (CSV and JSONL) and a logged decision, as export and ope --log
// do with what they read; never a crash, and a CSV row has the header's
// column count.
#include <cstdint>
#include <string>

#include "absl/strings/str_split.h"
#include "bandits/log/export.h"
#include "bandits/ope/logged_data.h"
#include "proto/events.pb.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  if (size > 1 << 16) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const size_t half = size / 2;
  DecisionEvent event;
  RewardRecord rewards;
  if (!event.ParseFromString(bytes.substr(0, half))) return 0;
  const bool has_rewards = rewards.ParseFromString(bytes.substr(half));
  std::string csv, jsonl;
  bandits::AppendCsvRow(event, has_rewards ? &rewards : nullptr, &csv);
  bandits::AppendJsonlRow(event, has_rewards ? &rewards : nullptr, &jsonl);
  (void)bandits::ToLoggedDecision(event, has_rewards ? &rewards : nullptr);
  return 0;
}
