// Export of an experiment's logged decisions, or of the slates a deployment
// served, with their joined rewards as CSV or JSON lines, byte for byte as
// bandits/log/log_format.md describes.
#ifndef RECBANDIT_BANDITS_LOG_EXPORT_H_
#define RECBANDIT_BANDITS_LOG_EXPORT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bandits/log/event_log.h"
#include "proto/events.pb.h"
#include "proto/core/progress.h"

namespace recbandit::bandits {

enum class ExportFormat { kCsv, kJsonl };

// Returns the format named `name` ("csv" or "jsonl"); INVALID_ARGUMENT otherwise.
absl::StatusOr<ExportFormat> ParseExportFormat(absl::string_view name);

// The CSV header line, with its newline.
const std::string& ExportCsvHeader();

// Returns whether `rewards` (nullptr = none arrived) holds a reward that is
// not late, i.e. whether the decision has an aggregated reward.
bool HasAggregatedReward(const RewardRecord* rewards);

// Appends one CSV row (with its newline) / one JSON line for `event` and its
// rewards (nullptr = none) to `out`.
void AppendCsvRow(const DecisionEvent& event, const RewardRecord* rewards, std::string* out);
void AppendJsonlRow(const DecisionEvent& event, const RewardRecord* rewards, std::string* out);

// Percent-escapes '%', ';', '|' (the separators inside CSV list fields) in
// ids and feature names; UnescapeListItem reverses it.
std::string EscapeListItem(absl::string_view s);
std::string UnescapeListItem(absl::string_view s);

struct ExportStats {
  int64_t rows = 0;             // decisions written
  int64_t rewarded = 0;         // rows with a reward
  int64_t skipped_corrupt = 0;  // corrupt records skipped (skip_corrupt)
};

// Writes every decision of `experiment` in time order to `out_path` (through
// `out_path`.tmp, fsynced and renamed, so readers never see half a file).
// NOT_FOUND for an unknown experiment; DATA_LOSS for a corrupt record unless
// `skip_corrupt`. `progress` (may be empty) hears (rows written, 0) after
// each row, on the calling thread.
absl::StatusOr<ExportStats> ExportExperiment(const EventLog& log, const std::string& experiment,
                                             ExportFormat format, const std::string& out_path,
                                             bool skip_corrupt = false,
                                             const ProgressCallback& progress = nullptr);

// A deployment's served slates: the CSV header, and one row / JSON line per
// slate with its rewards (log_format.md, "Deployment export").
const std::string& ExportSlateCsvHeader();
void AppendSlateCsvRow(const DecisionEvent& event, const RewardRecord* rewards, std::string* out);
void AppendSlateJsonlRow(const DecisionEvent& event, const RewardRecord* rewards,
                         std::string* out);

// As ExportExperiment, for every slate `deployment` served (also after it
// was deleted). NOT_FOUND when the log has no journal for the name.
absl::StatusOr<ExportStats> ExportSlates(const EventLog& log, const std::string& deployment,
                                         ExportFormat format, const std::string& out_path,
                                         bool skip_corrupt = false,
                                         const ProgressCallback& progress = nullptr);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_LOG_EXPORT_H_
