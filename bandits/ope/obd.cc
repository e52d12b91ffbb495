// Open Bandit Dataset reader and per-position targets (bandits/ope/obd.h).
// Dataset: Open Bandit Dataset, ZOZO, Inc., CC BY 4.0 (see ../shared/data/obd/).
#include "bandits/ope/obd.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "bandits/ope/reward_features.h"
#include "proto/core/file_util.h"
#include "proto/core/line_reader.h"
#include "proto/core/status_macros.h"
#include "proto/core/string_view.h"

namespace recbandit::bandits {
namespace {

// Splits `line` at commas (OBD has no quoted fields).
void SplitCommas(std::string_view line, std::vector<std::string_view>* out) {
  out->clear();
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      out->push_back(line.substr(start));
      return;
    }
    out->push_back(line.substr(start, comma - start));
    start = comma + 1;
  }
}

template <typename T>
bool ParseNumber(std::string_view s, T* value) {
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *value);
  return ec == std::errc() && ptr == end;
}

// Returns the number of data rows of the item_context.csv next to `path`, or 0.
int32_t ItemContextRows(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  absl::StatusOr<std::string> text = ReadFileToString(dir + "/item_context.csv");
  if (!text.ok()) return 0;
  int32_t lines = 0;
  for (char c : *text) lines += c == '\n';
  if (!text->empty() && text->back() != '\n') ++lines;
  return std::max(0, lines - 1);
}

}  // namespace

FeatureSpace ObdFeatureSpace() {
  FeatureSpace space;
  space.hash_bits = kObdHashBits;
  return space;
}

absl::StatusOr<ObdLog> ReadObdCsv(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  std::string_view data = file->data();
  ObdLog log;
  log.path = path;
  std::vector<std::string_view> fields;
  int col_item = -1, col_position = -1, col_click = -1, col_propensity = -1;
  std::vector<int> user_cols;
  std::vector<std::string_view> user_names;
  // Features as a recbandit Context per row, hashed by the serving path.
  const FeatureSpace space = ObdFeatureSpace();
  RewardFeatureBuilder builder(space);
  Context context;
  // Distinct features seen and how many fall in each slot, to count hash
  // collisions.
  absl::flat_hash_set<std::string> seen;
  absl::flat_hash_map<uint32_t, int32_t> names_in_slot;
  std::string name;
  size_t header_fields = 0;
  LineReader lines(data);
  std::string_view line;
  while (lines.Next(&line)) {
    const int64_t line_no = lines.line_number();
    if (line.empty()) continue;
    SplitCommas(line, &fields);
    const std::string where = absl::StrCat(path, ":", line_no, ": ");
    if (line_no == 1) {
      header_fields = fields.size();
      for (size_t c = 0; c < fields.size(); ++c) {
        const std::string_view column = fields[c];
        if (column == "item_id") col_item = c;
        if (column == "position") col_position = c;
        if (column == "click") col_click = c;
        if (column == "propensity_score") col_propensity = c;
        if (column.substr(0, 13) == "user_feature_") {
          user_cols.push_back(c);
          user_names.push_back(column);
        }
      }
      if (col_item < 0 || col_position < 0 || col_click < 0 || col_propensity < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, "not an Open Bandit Dataset CSV: the header needs item_id, position, "
                   "click and propensity_score"));
      }
      continue;
    }
    if (fields.size() != header_fields) {
      return absl::InvalidArgumentError(absl::StrCat(where, "expected ", header_fields,
                                                     " fields, got ", fields.size()));
    }
    int32_t item = 0, position = 0;
    double click = 0, propensity = 0;
    if (!ParseNumber(fields[col_item], &item) || item < 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, "item_id '", ToAbsl(fields[col_item]),
                                                     "' is not an integer >= 0"));
    }
    if (!ParseNumber(fields[col_position], &position) || position < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "position '", ToAbsl(fields[col_position]), "' is not an integer >= 1"));
    }
    if (!ParseNumber(fields[col_click], &click) || (click != 0 && click != 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "click '", ToAbsl(fields[col_click]), "' is not 0 or 1"));
    }
    if (!ParseNumber(fields[col_propensity], &propensity)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "propensity_score '", ToAbsl(fields[col_propensity]), "' is not a number"));
    }
    if (!(propensity > 0) || propensity > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "propensity_score ", propensity,
          propensity == 0 ? " is zero: IPS-type estimators need the logged item to have had "
                            "a positive probability"
                          : " is outside (0, 1]"));
    }
    log.item.push_back(item);
    log.position.push_back(position);
    log.click.push_back(click);
    log.propensity.push_back(propensity);
    log.num_items = std::max(log.num_items, item + 1);
    log.num_positions = std::max(log.num_positions, position);
    // The row's context: "slot|position=<p>", then "user|<column>=<value>"
    // for each user_feature_* column (each value 1).
    context.Clear();
    Namespace* slot = context.add_namespaces();
    slot->set_name(kObdSlotNamespace);
    Feature* feature = slot->add_features();
    feature->set_name(absl::StrCat("position=", position));
    feature->set_value(1.0f);
    if (!user_cols.empty()) {
      Namespace* user = context.add_namespaces();
      user->set_name(kObdUserNamespace);
      for (size_t u = 0; u < user_cols.size(); ++u) {
        feature = user->add_features();
        feature->set_name(absl::StrCat(ToAbsl(user_names[u]), "=", ToAbsl(fields[user_cols[u]])));
        feature->set_value(1.0f);
      }
    }
    if (absl::Status s = builder.Add(context); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "features: ", s.message()));
    }
    for (const Namespace& ns : context.namespaces()) {
      for (const Feature& f : ns.features()) {
        name.assign(ns.name()).append("|").append(f.name());
        if (!seen.insert(name).second) continue;
        if (names_in_slot[FeatureSlot(ns.name(), f.name(), space.hash_bits)]++ > 0) {
          ++log.hash_collisions;
        }
      }
    }
  }
  if (log.item.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no data rows"));
  }
  log.num_items = std::max(log.num_items, ItemContextRows(path));
  RETURN_IF_ERROR(builder.Finish(&log.feature_dim, &log.features));
  log.hash_bits = space.hash_bits;
  log.feature_slots = builder.sparse_slots();
  return log;
}

PositionPmfs UniformPositionPmfs(int32_t num_items, int32_t num_positions) {
  return PositionPmfs(num_positions, std::vector<double>(num_items, 1.0 / num_items));
}

absl::StatusOr<PositionPmfs> EmpiricalPositionPmfs(const ObdLog& other, int32_t num_items,
                                                   int32_t num_positions) {
  PositionPmfs pmfs(num_positions, std::vector<double>(num_items, 0.0));
  std::vector<int64_t> totals(num_positions, 0);
  for (int64_t i = 0; i < other.size(); ++i) {
    if (other.item[i] >= num_items || other.position[i] > num_positions) continue;
    pmfs[other.position[i] - 1][other.item[i]] += 1;
    ++totals[other.position[i] - 1];
  }
  for (int32_t p = 0; p < num_positions; ++p) {
    if (totals[p] == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          other.path, ": no impressions at position ", p + 1, ", so no target pmf there"));
    }
    for (double& v : pmfs[p]) v /= totals[p];
  }
  return pmfs;
}

absl::StatusOr<LoggedRounds> ObdRounds(const ObdLog& log, const PositionPmfs& target) {
  LoggedRounds rounds;
  rounds.num_actions = log.num_items;
  for (const auto& pmf : target) {
    rounds.num_actions = std::max(rounds.num_actions, static_cast<int32_t>(pmf.size()));
  }
  rounds.action_names.reserve(rounds.num_actions);
  for (int32_t a = 0; a < rounds.num_actions; ++a) rounds.action_names.push_back(std::to_string(a));
  std::vector<int32_t> row_actions;
  std::vector<double> row_probs;
  for (const auto& pmf : target) {
    row_actions.clear();
    row_probs.clear();
    for (size_t a = 0; a < pmf.size(); ++a) {
      row_actions.push_back(static_cast<int32_t>(a));
      row_probs.push_back(pmf[a]);
    }
    rounds.target_pmfs.AddRow(row_actions, row_probs);
  }
  const int64_t n = log.size();
  rounds.action = log.item;
  rounds.reward = log.click;
  rounds.propensity = log.propensity;
  rounds.target_row.resize(n);
  rounds.target_prob.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t p = log.position[i];
    if (p > static_cast<int32_t>(target.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          log.path, ": position ", p, " of data row ", i + 1, " has no target pmf"));
    }
    rounds.target_row[i] = p - 1;
    const auto& pmf = target[p - 1];
    rounds.target_prob[i] = log.item[i] < static_cast<int32_t>(pmf.size()) ? pmf[log.item[i]] : 0;
  }
  rounds.feature_dim = log.feature_dim;
  rounds.features = log.features;
  return rounds;
}

}  // namespace recbandit::bandits
