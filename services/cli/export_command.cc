// `recbandit export`: writes an experiment's logged decisions, or the slates
// a deployment served, with their joined rewards, as CSV or JSON lines
// (bandits/log/log_format.md). Reads the event
// log as a secondary instance, so a running server may keep writing it.
// `recbandit log repair`: the explicit recovery of a damaged event log.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bandits/log/event_log.h"
#include "bandits/log/export.h"
#include "proto/core/json.h"
#include "proto/core/progress.h"
#include "proto/reports.pb.h"
#include "proto/core/status_macros.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"

namespace recbandit::services {

absl::Status RunExport(const CommandArgs& args) {
  if (!args.empty()) {
    return absl::InvalidArgumentError(
        "usage: recbandit export --data_dir= (--experiment= | --deployment=) "
        "--format=jsonl|csv --out=");
  }
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string experiment = absl::GetFlag(FLAGS_experiment);
  const std::string deployment = absl::GetFlag(FLAGS_deployment);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (data_dir.empty() || out.empty() || experiment.empty() == deployment.empty()) {
    return absl::InvalidArgumentError(
        "--data_dir, --out and one of --experiment or --deployment are required");
  }
  const std::string format_name = absl::GetFlag(FLAGS_format);
  ASSIGN_OR_RETURN(bandits::ExportFormat format, bandits::ParseExportFormat(format_name));
  bandits::EventLogOptions options;
  options.mode = bandits::EventLogOptions::Mode::kSecondary;
  ASSIGN_OR_RETURN(std::unique_ptr<bandits::EventLog> log,
                   bandits::EventLog::Open(data_dir, options));
  const bool skip_corrupt = absl::GetFlag(FLAGS_skip_bad_lines);
  std::unique_ptr<ProgressReporter> progress;
  ASSIGN_OR_RETURN(
      bandits::ExportStats stats,
      experiment.empty()
          ? bandits::ExportSlates(*log, deployment, format, out, skip_corrupt,
                                  ReportProgressTo("export slates", &progress))
          : bandits::ExportExperiment(*log, experiment, format, out, skip_corrupt,
                                      ReportProgressTo("export rows", &progress)));
  if (progress) progress->Finish();
  ExportReport report;
  report.set_experiment(experiment);
  report.set_deployment(deployment);
  report.set_format(format_name);
  report.set_out(out);
  report.set_rows(stats.rows);
  report.set_rewarded(stats.rewarded);
  report.set_skipped_corrupt(stats.skipped_corrupt);
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

absl::Status RunLog(const CommandArgs& args) {
  if (args.size() != 1 || args[0] != "repair") {
    return absl::InvalidArgumentError("usage: recbandit log repair --data_dir=<service data dir>");
  }
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  if (data_dir.empty()) return absl::InvalidArgumentError("--data_dir is required");
  ASSIGN_OR_RETURN(bandits::LogRepairReport repaired, bandits::EventLog::Repair(data_dir));
  LogRepairReport report;
  report.set_data_dir(data_dir);
  report.set_repaired(!repaired.damaged_copy.empty());
  report.set_damaged_copy(repaired.damaged_copy);
  for (const std::string& f : repaired.damaged_files) report.add_damaged_files(f);
  report.set_bytes_dropped(repaired.bytes_dropped);
  report.set_operations_lost(repaired.operations_lost);
  report.set_batches_recovered(repaired.batches_recovered);
  if (report.repaired()) {
    std::fprintf(stderr,
                 "log repair: dropped %lld damaged bytes (%lld write operations) in %s; "
                 "the log as it was is kept in %s\n",
                 static_cast<long long>(repaired.bytes_dropped),
                 static_cast<long long>(repaired.operations_lost),
                 absl::StrJoin(repaired.damaged_files, ", ").c_str(),
                 repaired.damaged_copy.c_str());
  } else {
    std::fprintf(stderr, "log repair: the log opens as it is; nothing changed\n");
  }
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

}  // namespace recbandit::services
