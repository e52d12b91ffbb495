// `recbandit gen interactions` and `recbandit split`.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/reports.pb.h"
#include "proto/core/status_macros.h"
#include "ranking/interactions.h"
#include "ranking/split.h"
#include "ranking/synthetic.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"

namespace recbandit::services {

void PrintJsonLine(const std::string& json) {
  std::fwrite(json.data(), 1, json.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void PrintWarning(const std::string& warning) {
  if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
}

absl::Status RunGen(const CommandArgs& args) {
  if (args.size() != 1 || args[0] != "interactions") {
    return absl::InvalidArgumentError(
        "usage: recbandit gen interactions --users= --items= --nnz= --factors= "
        "--seed= --out=<file> [--truth_out=<file> --event_types=click,purchase]");
  }
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  ranking::SyntheticOptions options;
  options.users = absl::GetFlag(FLAGS_users);
  options.items = absl::GetFlag(FLAGS_items);
  options.nnz = absl::GetFlag(FLAGS_nnz);
  const int32_t factors = absl::GetFlag(FLAGS_factors);
  if (FlagGiven("factors") && factors < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--factors = ", factors, " must be >= 1"));
  }
  options.factors = FlagGiven("factors") ? factors : 8;
  options.seed = absl::GetFlag(FLAGS_seed);
  ASSIGN_OR_RETURN(ranking::SyntheticData data, ranking::GenerateInteractions(options));
  // --event_types: each row gets one of the types, drawn uniformly from a
  // generator of its own (the rows themselves do not change).
  const std::string types = absl::GetFlag(FLAGS_event_types);
  if (!types.empty()) {
    std::vector<std::string> names = absl::StrSplit(types, ',');
    if (names.size() > 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("--event_types: at most 16 types, got ", names.size()));
    }
    for (const std::string& name : names) {
      RETURN_IF_ERROR(ValidateName(name, "--event_types type"));
      if (data.log.event_types.Find(name) >= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--event_types: ", Quote(name), " is given twice"));
      }
      data.log.event_types.GetOrAdd(name);
    }
    Rng rng(options.seed ^ 0x65766e7474797065ULL);  // "evnttype"
    data.log.event_type.resize(data.log.size());
    for (int16_t& t : data.log.event_type) t = static_cast<int16_t>(rng.UniformInt(names.size()));
  }
  RETURN_IF_ERROR(ranking::WriteInteractions(out, data.log));
  const std::string truth_out = absl::GetFlag(FLAGS_truth_out);
  if (!truth_out.empty()) {
    RETURN_IF_ERROR(ranking::WritePlantedTruth(truth_out, data.truth));
  }
  GenReport report;
  report.set_users(data.log.users.size());
  report.set_items(data.log.items.size());
  report.set_interactions(data.log.size());
  report.set_out(out);
  report.set_truth_out(truth_out);
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

absl::StatusOr<ranking::LoadOptions> LoadOptionsFromFlags() {
  ranking::LoadOptions options;
  options.skip_bad_lines = absl::GetFlag(FLAGS_skip_bad_lines);
  const std::string header = absl::GetFlag(FLAGS_header);
  if (header == "auto") {
    options.header = ranking::LoadOptions::Header::kAuto;
  } else if (header == "yes" || header == "true") {
    options.header = ranking::LoadOptions::Header::kYes;
  } else if (header == "no" || header == "false") {
    options.header = ranking::LoadOptions::Header::kNo;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--header must be auto, yes or no, got ", Quote(header)));
  }
  return options;
}

absl::Status RunSplit(const CommandArgs& args) {
  const std::string input = absl::GetFlag(FLAGS_input);
  const std::string train_out = absl::GetFlag(FLAGS_train_out);
  const std::string test_out = absl::GetFlag(FLAGS_test_out);
  if (input.empty() || train_out.empty() || test_out.empty()) {
    return absl::InvalidArgumentError("--input, --train_out and --test_out are required");
  }
  ranking::SplitOptions options;
  ASSIGN_OR_RETURN(options.scheme, ranking::ParseSplitScheme(absl::GetFlag(FLAGS_scheme)));
  options.test_fraction = absl::GetFlag(FLAGS_test_fraction);
  options.seed = absl::GetFlag(FLAGS_seed);
  ASSIGN_OR_RETURN(ranking::LoadOptions load_options, LoadOptionsFromFlags());
  ranking::LoadStats stats;
  ASSIGN_OR_RETURN(ranking::InteractionLog log,
                   ranking::LoadInteractions(input, load_options, &stats));
  PrintWarning(ranking::SkippedLinesWarning(input, stats));
  if (options.scheme == ranking::SplitScheme::kLeaveLastOut && !log.has_timestamps) {
    return absl::FailedPreconditionError(absl::StrCat(
        input, ": leave_last_out needs a timestamp column (user,item,weight,timestamp)"));
  }
  ASSIGN_OR_RETURN(ranking::SplitResult split, ranking::SplitInteractions(log, options));
  RETURN_IF_ERROR(ranking::WriteInteractions(train_out, log, split.train));
  RETURN_IF_ERROR(ranking::WriteInteractions(test_out, log, split.test));
  SplitReport report;
  report.set_train(static_cast<int64_t>(split.train.size()));
  report.set_test(static_cast<int64_t>(split.test.size()));
  report.set_scheme(absl::GetFlag(FLAGS_scheme));
  report.set_skipped_lines(stats.skipped_lines);
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

}  // namespace recbandit::services
