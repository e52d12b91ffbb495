// Readers of logged decisions: the event log (as a secondary instance), CSV
// exports (RFC 4180, list fields of bandits/log/log_format.md) and JSONL exports
// (protobuf's JSON parser into ExportedDecision).
#include "bandits/ope/logged_data.h"

#include <charconv>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bandits/log/event_log.h"
#include "bandits/log/export.h"
#include "google/protobuf/util/json_util.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {
namespace {

template <typename T>
bool ParseNumber(absl::string_view s, T* out) {
  if (s.empty()) return false;
  const char* begin = s.data();
  if (s.size() > 1 && s[0] == '+') ++begin;  // from_chars rejects a leading '+'
  auto r = std::from_chars(begin, s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Splits RFC 4180 CSV text into records; `line` of each record is where it
// starts (1-based). INVALID_ARGUMENT for an unterminated quote.
struct CsvRecord {
  int64_t line = 0;
  std::vector<std::string> fields;
};

absl::Status SplitCsv(const std::string& path, absl::string_view text,
                      std::vector<CsvRecord>* records) {
  int64_t line = 1;
  size_t i = 0;
  while (i < text.size()) {
    CsvRecord record;
    record.line = line;
    std::string field;
    bool end_of_record = false;
    while (!end_of_record) {
      field.clear();
      if (i < text.size() && text[i] == '"') {
        const int64_t quote_line = line;
        ++i;
        for (;;) {
          if (i >= text.size()) {
            return absl::InvalidArgumentError(
                absl::StrCat(path, ":", quote_line, ": unterminated quoted field"));
          }
          const char c = text[i++];
          if (c == '"') {
            if (i < text.size() && text[i] == '"') {
              field.push_back('"');
              ++i;
              continue;
            }
            break;
          }
          if (c == '\n') ++line;
          field.push_back(c);
        }
      }
      while (i < text.size() && text[i] != ',' && text[i] != '\n') field.push_back(text[i++]);
      if (!field.empty() && field.back() == '\r') field.pop_back();
      record.fields.push_back(field);
      if (i >= text.size()) {
        end_of_record = true;
      } else if (text[i] == ',') {
        ++i;
      } else {  // '\n'
        ++i;
        ++line;
        end_of_record = true;
      }
    }
    if (record.fields.size() == 1 && record.fields[0].empty()) continue;  // blank line
    records->push_back(std::move(record));
  }
  return absl::OkStatus();
}

std::vector<absl::string_view> SplitList(absl::string_view s, char sep) {
  if (s.empty()) return {};
  return absl::StrSplit(s, sep);
}

absl::Status ParseCsvRow(const std::string& path, const CsvRecord& record,
                         LoggedDecision* d) {
  auto error = [&](absl::string_view column, absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", record.line, ": column ", column, ": ", what));
  };
  const auto& f = record.fields;
  if (f.size() != 16) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", record.line, ": expected 16 fields, got ",
                                                   f.size()));
  }
  d->event_id = f[0];
  d->experiment = f[1];
  d->variant = f[2];
  if (!ParseNumber(f[3], &d->timestamp_us)) return error("timestamp_us", "not an integer");
  d->unit_id = f[4];
  for (absl::string_view v : SplitList(f[5], ';')) {
    float x;
    if (!ParseNumber(v, &x)) return error("context_dense", absl::StrCat("bad number ", Quote(v)));
    d->context.add_dense(x);
  }
  if (absl::Status s = ParseContextSparse(f[6], &d->context); !s.ok()) {
    return error("context_sparse", s.message());
  }
  for (absl::string_view id : SplitList(f[7], ';')) {
    d->actions.emplace_back();
    d->actions.back().set_id(UnescapeListItem(id));
  }
  if (d->actions.empty()) return error("actions", "no actions");
  if (!ParseNumber(f[8], &d->chosen)) return error("chosen_index", "not an integer");
  if (d->chosen < 0 || d->chosen >= static_cast<int32_t>(d->actions.size())) {
    return error("chosen_index", absl::StrCat(d->chosen, " is outside [0, ", d->actions.size(), ")"));
  }
  if (!ParseNumber(f[10], &d->propensity)) return error("propensity", "not a number");
  for (absl::string_view v : SplitList(f[11], ';')) {
    double p;
    if (!ParseNumber(v, &p)) return error("pmf", absl::StrCat("bad number ", Quote(v)));
    d->pmf.push_back(p);
  }
  if (d->pmf.size() != d->actions.size()) {
    return error("pmf", absl::StrCat(d->pmf.size(), " probabilities for ", d->actions.size(),
                                     " actions"));
  }
  if (!f[12].empty()) {
    if (!ParseNumber(f[12], &d->reward)) return error("reward", "not a number");
    d->has_reward = true;
  }
  d->policy_spec = f[13];
  if (!ParseNumber(f[14], &d->policy_version)) return error("policy_version", "not an integer");
  for (absl::string_view shadow : SplitList(f[15], '|')) {
    const size_t eq = shadow.rfind('=');
    if (eq == absl::string_view::npos) {
      return error("shadow_pmfs", absl::StrCat("expected spec=p1;p2..., got ", Quote(shadow)));
    }
    LoggedShadow s;
    s.policy_spec = std::string(shadow.substr(0, eq));
    for (absl::string_view v : SplitList(shadow.substr(eq + 1), ';')) {
      double p;
      if (!ParseNumber(v, &p)) return error("shadow_pmfs", absl::StrCat("bad number ", Quote(v)));
      s.pmf.push_back(p);
    }
    if (s.pmf.size() != d->actions.size()) {
      return error("shadow_pmfs", absl::StrCat("shadow ", Quote(s.policy_spec), " has ", s.pmf.size(),
                                               " probabilities for ", d->actions.size(),
                                               " actions"));
    }
    d->shadows.push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::StatusOr<LoggedData> ReadCsv(const std::string& path, const std::string& text) {
  std::vector<CsvRecord> records;
  RETURN_IF_ERROR(SplitCsv(path, text, &records));
  LoggedData data;
  for (size_t r = 1; r < records.size(); ++r) {  // records[0] is the header
    LoggedDecision d;
    RETURN_IF_ERROR(ParseCsvRow(path, records[r], &d));
    data.decisions.push_back(std::move(d));
  }
  return data;
}

absl::StatusOr<LoggedData> ReadJsonl(const std::string& path, const std::string& text) {
  LoggedData data;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == absl::string_view::npos) continue;
    ExportedDecision row;
    auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(line.data(), line.size()), &row, options);
    if (!status.ok()) {
      // The parser's message ends with the offending text and a caret on
      // lines of their own: keep its first line.
      const absl::string_view message(status.message().data(), status.message().size());
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_number, ": not a JSON row of the export: ",
          absl::StripTrailingAsciiWhitespace(message.substr(0, message.find('\n')))));
    }
    LoggedDecision d;
    d.event_id = row.event_id();
    d.experiment = row.experiment();
    d.variant = row.variant();
    d.unit_id = row.unit_id();
    d.timestamp_us = row.timestamp_us();
    d.context = row.context();
    d.actions.assign(row.actions().begin(), row.actions().end());
    d.pmf.assign(row.pmf().begin(), row.pmf().end());
    d.chosen = row.chosen_index();
    d.propensity = row.propensity();
    d.has_reward = row.has_reward();
    d.reward = row.reward().value();
    d.policy_spec = row.policy_spec();
    d.policy_version = row.policy_version();
    for (const ShadowDecision& s : row.shadows()) {
      d.shadows.push_back({s.policy_spec(), {s.pmf().begin(), s.pmf().end()}});
    }
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", what));
    };
    if (d.actions.empty()) return error("no actions");
    if (d.chosen < 0 || d.chosen >= static_cast<int32_t>(d.actions.size())) {
      return error(absl::StrCat("chosen_index ", d.chosen, " is outside [0, ", d.actions.size(),
                                ")"));
    }
    if (d.pmf.size() != d.actions.size()) {
      return error(absl::StrCat("pmf has ", d.pmf.size(), " probabilities for ",
                                d.actions.size(), " actions"));
    }
    for (const LoggedShadow& s : d.shadows) {
      if (s.pmf.size() != d.actions.size()) {
        return error(absl::StrCat("shadow ", Quote(s.policy_spec), " pmf has ", s.pmf.size(),
                                  " probabilities for ", d.actions.size(), " actions"));
      }
    }
    data.decisions.push_back(std::move(d));
  }
  return data;
}

}  // namespace

absl::Status ParseContextSparse(absl::string_view field, Context* context) {
  for (absl::string_view item : SplitList(field, ';')) {
    const size_t bar = item.find('|');
    const size_t eq = item.rfind('=');
    if (bar == absl::string_view::npos || eq == absl::string_view::npos || eq < bar) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected namespace|name=value, got ", Quote(item)));
    }
    float value;
    if (!ParseNumber(item.substr(eq + 1), &value)) {
      return absl::InvalidArgumentError(absl::StrCat("bad value in ", Quote(item)));
    }
    const std::string ns = UnescapeListItem(item.substr(0, bar));
    Namespace* target = nullptr;
    if (context->namespaces_size() > 0 &&
        context->namespaces(context->namespaces_size() - 1).name() == ns) {
      target = context->mutable_namespaces(context->namespaces_size() - 1);
    } else {
      target = context->add_namespaces();
      target->set_name(ns);
    }
    Feature* feature = target->add_features();
    feature->set_name(UnescapeListItem(item.substr(bar + 1, eq - bar - 1)));
    feature->set_value(value);
  }
  return absl::OkStatus();
}

LoggedDecision ToLoggedDecision(const DecisionEvent& e, const RewardRecord* rewards) {
  LoggedDecision d;
  d.event_id = e.event_id();
  d.experiment = e.experiment();
  d.variant = e.variant();
  d.unit_id = e.unit_id();
  d.timestamp_us = e.timestamp_us();
  d.context = e.context();
  d.actions.assign(e.actions().begin(), e.actions().end());
  d.pmf.assign(e.pmf().begin(), e.pmf().end());
  d.chosen = e.chosen_index();
  d.propensity = d.chosen >= 0 && d.chosen < static_cast<int32_t>(d.pmf.size()) ? d.pmf[d.chosen]
                                                                                : 0.0;
  d.has_reward = HasAggregatedReward(rewards);
  d.reward = d.has_reward ? rewards->aggregated() : 0.0;
  d.policy_spec = e.policy_spec();
  d.policy_version = e.policy_version();
  for (const ShadowDecision& s : e.shadows()) {
    d.shadows.push_back({s.policy_spec(), {s.pmf().begin(), s.pmf().end()}});
  }
  return d;
}

absl::StatusOr<LoggedData> ReadLoggedDataFromLog(const std::string& data_dir,
                                                 const std::string& experiment,
                                                 const LogReadOptions& options) {
  EventLogOptions log_options;
  log_options.mode = EventLogOptions::Mode::kSecondary;
  ASSIGN_OR_RETURN(std::unique_ptr<EventLog> log, EventLog::Open(data_dir, log_options));
  return ReadLoggedData(*log, experiment, options);
}

absl::StatusOr<LoggedData> ReadLoggedData(const EventLog& event_log,
                                          const std::string& experiment,
                                          const LogReadOptions& options) {
  const EventLog* log = &event_log;
  LoggedData data;
  ASSIGN_OR_RETURN(data.config, log->GetExperiment(experiment));
  data.default_reward = data.config.default_reward();
  ScanStats stats;
  RETURN_IF_ERROR(log->ScanDecisions(
      experiment, options.start_time_us, options.end_time_us,
      [&](const DecisionEvent& e) -> absl::Status {
        absl::StatusOr<RewardRecord> rewards = log->GetRewards(e.event_id());
        if (!rewards.ok() && !absl::IsNotFound(rewards.status())) {
          if (!options.skip_corrupt || !absl::IsDataLoss(rewards.status())) {
            return rewards.status();
          }
          ++data.skipped_corrupt;
        }
        data.decisions.push_back(ToLoggedDecision(e, rewards.ok() ? &*rewards : nullptr));
        return absl::OkStatus();
      },
      options.skip_corrupt, &stats));
  data.skipped_corrupt += stats.skipped_corrupt;
  return data;
}

absl::StatusOr<LoggedData> ReadLoggedDataFromFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const std::string& header = ExportCsvHeader();  // ends with '\n'
  const absl::string_view first_line = absl::string_view(text).substr(0, text.find('\n'));
  absl::string_view trimmed = first_line;
  if (!trimmed.empty() && trimmed.back() == '\r') trimmed.remove_suffix(1);
  if (trimmed == absl::string_view(header).substr(0, header.size() - 1)) {
    return ReadCsv(path, text);
  }
  if (trimmed.rfind("event_id,", 0) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1: CSV header differs from the export header: ",
                     header.substr(0, header.size() - 1)));
  }
  return ReadJsonl(path, text);
}

}  // namespace recbandit::bandits
