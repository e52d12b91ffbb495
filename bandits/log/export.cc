// CSV and JSONL writers of logged decisions (bandits/log/log_format.md).
#include "bandits/log/export.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {
namespace {

template <typename T>
void AppendNumber(T v, std::string* out) {
  if (!std::isfinite(v)) {
    out->append("nan");  // never stored: inputs are validated finite
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

void AppendInt(int64_t v, std::string* out) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// Appends `field` as one CSV field (RFC 4180 quoting when needed).
void AppendCsvField(absl::string_view field, std::string* out) {
  if (field.find_first_of(",\"\n\r") == absl::string_view::npos) {
    out->append(field.data(), field.size());
    return;
  }
  out->push_back('"');
  for (char c : field) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

template <typename Container>
void AppendJsonNumbers(const Container& values, std::string* out) {
  out->push_back('[');
  bool first = true;
  for (auto v : values) {
    if (!first) out->push_back(',');
    first = false;
    if (std::isfinite(v)) {
      AppendNumber(v, out);
    } else {
      out->append("null");
    }
  }
  out->push_back(']');
}

void AppendJsonNamespaces(const google::protobuf::RepeatedPtrField<Namespace>& namespaces,
                          std::string* out) {
  out->push_back('[');
  for (int i = 0; i < namespaces.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"name\":");
    AppendJsonString(namespaces[i].name(), out);
    out->append(",\"features\":[");
    for (int j = 0; j < namespaces[i].features_size(); ++j) {
      if (j > 0) out->push_back(',');
      out->append("{\"name\":");
      AppendJsonString(namespaces[i].features(j).name(), out);
      out->append(",\"value\":");
      AppendNumber(namespaces[i].features(j).value(), out);
      out->push_back('}');
    }
    out->append("]}");
  }
  out->push_back(']');
}

template <typename Container>
std::string JoinNumbers(const Container& values, char sep) {
  std::string s;
  bool first = true;
  for (auto v : values) {
    if (!first) s.push_back(sep);
    first = false;
    AppendNumber(v, &s);
  }
  return s;
}

}  // namespace

absl::StatusOr<ExportFormat> ParseExportFormat(absl::string_view name) {
  if (name == "csv") return ExportFormat::kCsv;
  if (name == "jsonl") return ExportFormat::kJsonl;
  return absl::InvalidArgumentError(
      absl::StrCat("--format must be csv or jsonl, got ", Quote(name)));
}

const std::string& ExportCsvHeader() {
  static const auto* header = new std::string(
      "event_id,experiment,variant,timestamp_us,unit_id,context_dense,context_sparse,actions,"
      "chosen_index,chosen_action,propensity,pmf,reward,policy_spec,policy_version,"
      "shadow_pmfs\n");
  return *header;
}

bool HasAggregatedReward(const RewardRecord* rewards) {
  if (rewards == nullptr) return false;
  for (const RewardEvent& r : rewards->rewards()) {
    if (!r.late()) return true;
  }
  return false;
}

namespace {

// Appends the aggregated reward as a JSON number, or null when none arrived.
void AppendJsonReward(const RewardRecord* rewards, std::string* out) {
  if (HasAggregatedReward(rewards)) {
    AppendNumber(rewards->aggregated(), out);
  } else {
    out->append("null");
  }
}

}  // namespace

std::string EscapeListItem(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '%': out.append("%25"); break;
      case ';': out.append("%3B"); break;
      case '|': out.append("%7C"); break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string UnescapeListItem(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const absl::string_view code = s.substr(i + 1, 2);
      if (code == "25") { out.push_back('%'); i += 2; continue; }
      if (code == "3B" || code == "3b") { out.push_back(';'); i += 2; continue; }
      if (code == "7C" || code == "7c") { out.push_back('|'); i += 2; continue; }
    }
    out.push_back(s[i]);
  }
  return out;
}

void AppendCsvRow(const DecisionEvent& e, const RewardRecord* rewards, std::string* out) {
  std::string sparse;
  for (const Namespace& ns : e.context().namespaces()) {
    for (const Feature& f : ns.features()) {
      if (!sparse.empty()) sparse.push_back(';');
      sparse.append(EscapeListItem(ns.name()));
      sparse.push_back('|');
      sparse.append(EscapeListItem(f.name()));
      sparse.push_back('=');
      AppendNumber(f.value(), &sparse);
    }
  }
  std::string actions;
  for (int i = 0; i < e.actions_size(); ++i) {
    if (i > 0) actions.push_back(';');
    actions.append(EscapeListItem(e.actions(i).id()));
  }
  std::string shadows;
  for (int i = 0; i < e.shadows_size(); ++i) {
    if (i > 0) shadows.push_back('|');
    shadows.append(e.shadows(i).policy_spec());
    shadows.push_back('=');
    shadows.append(JoinNumbers(e.shadows(i).pmf(), ';'));
  }
  const double propensity =
      e.chosen_index() >= 0 && e.chosen_index() < e.pmf_size() ? e.pmf(e.chosen_index()) : 0.0;
  std::string num;
  AppendCsvField(e.event_id(), out);
  out->push_back(',');
  AppendCsvField(e.experiment(), out);
  out->push_back(',');
  AppendCsvField(e.variant(), out);
  out->push_back(',');
  AppendInt(e.timestamp_us(), out);
  out->push_back(',');
  AppendCsvField(e.unit_id(), out);
  out->push_back(',');
  AppendCsvField(JoinNumbers(e.context().dense(), ';'), out);
  out->push_back(',');
  AppendCsvField(sparse, out);
  out->push_back(',');
  AppendCsvField(actions, out);
  out->push_back(',');
  AppendInt(e.chosen_index(), out);
  out->push_back(',');
  AppendCsvField(e.chosen_action(), out);
  out->push_back(',');
  AppendNumber(propensity, out);
  out->push_back(',');
  AppendCsvField(JoinNumbers(e.pmf(), ';'), out);
  out->push_back(',');
  if (HasAggregatedReward(rewards)) AppendNumber(rewards->aggregated(), out);
  out->push_back(',');
  AppendCsvField(e.policy_spec(), out);
  out->push_back(',');
  AppendInt(e.policy_version(), out);
  out->push_back(',');
  AppendCsvField(shadows, out);
  out->push_back('\n');
}

void AppendJsonlRow(const DecisionEvent& e, const RewardRecord* rewards, std::string* out) {
  const double propensity =
      e.chosen_index() >= 0 && e.chosen_index() < e.pmf_size() ? e.pmf(e.chosen_index()) : 0.0;
  out->append("{\"event_id\":");
  AppendJsonString(e.event_id(), out);
  out->append(",\"experiment\":");
  AppendJsonString(e.experiment(), out);
  out->append(",\"variant\":");
  AppendJsonString(e.variant(), out);
  out->append(",\"timestamp_us\":");
  AppendInt(e.timestamp_us(), out);
  out->append(",\"unit_id\":");
  AppendJsonString(e.unit_id(), out);
  out->append(",\"context\":{\"dense\":");
  AppendJsonNumbers(e.context().dense(), out);
  out->append(",\"namespaces\":");
  AppendJsonNamespaces(e.context().namespaces(), out);
  out->append("},\"actions\":[");
  for (int i = 0; i < e.actions_size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"id\":");
    AppendJsonString(e.actions(i).id(), out);
    out->append(",\"dense\":");
    AppendJsonNumbers(e.actions(i).dense(), out);
    out->append(",\"namespaces\":");
    AppendJsonNamespaces(e.actions(i).namespaces(), out);
    out->push_back('}');
  }
  out->append("],\"chosen_index\":");
  AppendInt(e.chosen_index(), out);
  out->append(",\"chosen_action\":");
  AppendJsonString(e.chosen_action(), out);
  out->append(",\"propensity\":");
  AppendNumber(propensity, out);
  out->append(",\"pmf\":");
  AppendJsonNumbers(e.pmf(), out);
  out->append(",\"reward\":");
  AppendJsonReward(rewards, out);
  out->append(",\"policy_spec\":");
  AppendJsonString(e.policy_spec(), out);
  out->append(",\"policy_version\":");
  AppendInt(e.policy_version(), out);
  out->append(",\"shadows\":[");
  for (int i = 0; i < e.shadows_size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append("{\"policy_spec\":");
    AppendJsonString(e.shadows(i).policy_spec(), out);
    out->append(",\"pmf\":");
    AppendJsonNumbers(e.shadows(i).pmf(), out);
    out->push_back('}');
  }
  out->append("]}\n");
}

namespace {

using AppendRow = void (*)(const DecisionEvent&, const RewardRecord*, std::string*);

// Writes every decision logged under `name` in time order to `out_path`:
// `header` first (CSV), then `append_row` of each with its rewards, through
// `out_path`.tmp, fsynced and renamed.
absl::StatusOr<ExportStats> WriteRows(const EventLog& log, const std::string& name,
                                      const std::string& header, AppendRow append_row,
                                      const std::string& out_path, bool skip_corrupt,
                                      const ProgressCallback& progress) {
  const std::string tmp = out_path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  }
  ExportStats stats;
  std::string buffer = header;
  bool write_failed = false;
  auto flush = [&] {
    if (!buffer.empty() && std::fwrite(buffer.data(), 1, buffer.size(), f) != buffer.size()) {
      write_failed = true;
    }
    buffer.clear();
  };
  ScanStats scan;
  absl::Status status = log.ScanDecisions(
      name, 0, 0,
      [&](const DecisionEvent& e) -> absl::Status {
        absl::StatusOr<RewardRecord> rewards = log.GetRewards(e.event_id());
        const RewardRecord* r = nullptr;
        if (rewards.ok()) {
          r = &*rewards;
        } else if (!absl::IsNotFound(rewards.status())) {
          if (!skip_corrupt || !absl::IsDataLoss(rewards.status())) return rewards.status();
          ++stats.skipped_corrupt;  // the decision is kept, its reward is not
        }
        append_row(e, r, &buffer);
        ++stats.rows;
        stats.rewarded += HasAggregatedReward(r) ? 1 : 0;
        if (buffer.size() > (1 << 20)) flush();
        if (progress) progress(stats.rows, 0);
        return write_failed ? absl::UnavailableError(absl::StrCat("writing ", tmp, " failed"))
                            : absl::OkStatus();
      },
      skip_corrupt, &scan);
  flush();
  const bool synced = std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  std::fclose(f);
  if (status.ok() && (write_failed || !synced)) {
    status = absl::UnavailableError(absl::StrCat("writing ", tmp, " failed: ", std::strerror(errno)));
  }
  if (status.ok() && std::rename(tmp.c_str(), out_path.c_str()) != 0) {
    status = absl::UnavailableError(
        absl::StrCat("renaming ", tmp, " to ", out_path, ": ", std::strerror(errno)));
  }
  if (!status.ok()) {
    std::remove(tmp.c_str());
    return status;
  }
  stats.skipped_corrupt += scan.skipped_corrupt;
  return stats;
}

// Returns the positions (1-based) of `rewards`' in-window rewards for one
// item, in arrival order.
std::vector<int32_t> ClickedPositions(const RewardRecord* rewards) {
  std::vector<int32_t> positions;
  if (rewards == nullptr) return positions;
  for (const RewardEvent& r : rewards->rewards()) {
    if (!r.late() && r.position() > 0) positions.push_back(r.position());
  }
  return positions;
}

// The served items of a slate, in display order.
std::vector<std::string> SlateItems(const DecisionEvent& e) {
  std::vector<std::string> items;
  for (int32_t index : e.slate_indices()) {
    items.push_back(index >= 0 && index < e.actions_size() ? e.actions(index).id() : "");
  }
  return items;
}

std::string ModelOf(const DecisionEvent& e) {
  return e.model_name().empty() ? "" : absl::StrCat(e.model_name(), "@", e.model_version());
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) s.push_back(';');
    s.append(EscapeListItem(ids[i]));
  }
  return s;
}

void AppendJsonIds(const std::vector<std::string>& ids, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(ids[i], out);
  }
  out->push_back(']');
}

}  // namespace

const std::string& ExportSlateCsvHeader() {
  static const auto* header = new std::string(
      "event_id,deployment,variant,deployment_revision,timestamp_us,unit_id,model,candidates,"
      "slate,slate_propensities,clicked_positions,reward,shadow_of,user,slate_marginals,"
      "interleaving_teams\n");
  return *header;
}

void AppendSlateCsvRow(const DecisionEvent& e, const RewardRecord* rewards, std::string* out) {
  std::vector<std::string> candidates;
  for (const Action& a : e.actions()) candidates.push_back(a.id());
  AppendCsvField(e.event_id(), out);
  out->push_back(',');
  AppendCsvField(e.experiment(), out);
  out->push_back(',');
  AppendCsvField(e.variant(), out);
  out->push_back(',');
  AppendInt(e.deployment_revision(), out);
  out->push_back(',');
  AppendInt(e.timestamp_us(), out);
  out->push_back(',');
  AppendCsvField(e.unit_id(), out);
  out->push_back(',');
  AppendCsvField(ModelOf(e), out);
  out->push_back(',');
  AppendCsvField(JoinIds(candidates), out);
  out->push_back(',');
  AppendCsvField(JoinIds(SlateItems(e)), out);
  out->push_back(',');
  AppendCsvField(JoinNumbers(e.slate_propensities(), ';'), out);
  out->push_back(',');
  AppendCsvField(JoinNumbers(ClickedPositions(rewards), ';'), out);
  out->push_back(',');
  if (HasAggregatedReward(rewards)) AppendNumber(rewards->aggregated(), out);
  out->push_back(',');
  AppendCsvField(e.shadow_of(), out);
  out->push_back(',');
  AppendCsvField(e.user(), out);
  out->push_back(',');
  AppendCsvField(JoinNumbers(e.slate_marginals(), ';'), out);
  out->push_back(',');
  AppendCsvField(JoinNumbers(e.interleaving_teams(), ';'), out);
  out->push_back('\n');
}

void AppendSlateJsonlRow(const DecisionEvent& e, const RewardRecord* rewards, std::string* out) {
  std::vector<std::string> candidates;
  for (const Action& a : e.actions()) candidates.push_back(a.id());
  out->append("{\"event_id\":");
  AppendJsonString(e.event_id(), out);
  out->append(",\"deployment\":");
  AppendJsonString(e.experiment(), out);
  out->append(",\"variant\":");
  AppendJsonString(e.variant(), out);
  out->append(",\"deployment_revision\":");
  AppendInt(e.deployment_revision(), out);
  out->append(",\"timestamp_us\":");
  AppendInt(e.timestamp_us(), out);
  out->append(",\"unit_id\":");
  AppendJsonString(e.unit_id(), out);
  out->append(",\"model\":");
  AppendJsonString(ModelOf(e), out);
  out->append(",\"candidates\":");
  AppendJsonIds(candidates, out);
  out->append(",\"slate\":");
  AppendJsonIds(SlateItems(e), out);
  out->append(",\"slate_propensities\":");
  AppendJsonNumbers(e.slate_propensities(), out);
  out->append(",\"clicked_positions\":[");
  const std::vector<int32_t> clicked = ClickedPositions(rewards);
  for (size_t i = 0; i < clicked.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendInt(clicked[i], out);
  }
  out->append("],\"reward\":");
  AppendJsonReward(rewards, out);
  out->append(",\"shadow_of\":");
  AppendJsonString(e.shadow_of(), out);
  out->append(",\"user\":");
  AppendJsonString(e.user(), out);
  out->append(",\"slate_marginals\":");
  AppendJsonNumbers(e.slate_marginals(), out);
  out->append(",\"interleaving_teams\":[");
  for (int i = 0; i < e.interleaving_teams_size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendInt(e.interleaving_teams(i), out);
  }
  out->append("]}\n");
}

absl::StatusOr<ExportStats> ExportExperiment(const EventLog& log, const std::string& experiment,
                                             ExportFormat format, const std::string& out_path,
                                             bool skip_corrupt,
                                             const ProgressCallback& progress) {
  RETURN_IF_ERROR(log.GetExperiment(experiment).status());
  return format == ExportFormat::kCsv
             ? WriteRows(log, experiment, ExportCsvHeader(), &AppendCsvRow, out_path,
                         skip_corrupt, progress)
             : WriteRows(log, experiment, "", &AppendJsonlRow, out_path, skip_corrupt, progress);
}

absl::StatusOr<ExportStats> ExportSlates(const EventLog& log, const std::string& deployment,
                                         ExportFormat format, const std::string& out_path,
                                         bool skip_corrupt, const ProgressCallback& progress) {
  ASSIGN_OR_RETURN(std::vector<DeploymentChange> journal, log.ListDeploymentChanges(deployment));
  if (journal.empty()) {
    return absl::NotFoundError(absl::StrCat("unknown deployment ", Quote(deployment)));
  }
  return format == ExportFormat::kCsv
             ? WriteRows(log, deployment, ExportSlateCsvHeader(), &AppendSlateCsvRow, out_path,
                         skip_corrupt, progress)
             : WriteRows(log, deployment, "", &AppendSlateJsonlRow, out_path, skip_corrupt,
                         progress);
}

}  // namespace recbandit::bandits
