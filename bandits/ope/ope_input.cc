// Target pmf CSV, the fast exported-CSV reader and LoggedData conversion for
// OPE (bandits/ope/ope_input.h).
#include "bandits/ope/ope_input.h"

#include <emmintrin.h>

#include <charconv>
#include <deque>
#include <optional>
#include <cmath>
#include <cstring>
#include <string_view>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bandits/log/export.h"
#include "bandits/ope/reward_features.h"
#include "bandits/policy.h"
#include "proto/core/file_util.h"
#include "proto/core/line_reader.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "proto/core/string_view.h"

namespace recbandit::bandits {
namespace {

constexpr std::string_view kExportHeader =
    "event_id,experiment,variant,timestamp_us,unit_id,context_dense,context_sparse,actions,"
    "chosen_index,chosen_action,propensity,pmf,reward,policy_spec,policy_version,shadow_pmfs";
constexpr int kFields = 16;
enum Column {
  kUnitId = 4,
  kContextDense = 5,
  kContextSparse = 6,
  kActions = 7,
  kChosenIndex = 8,
  kChosenAction = 9,
  kPropensity = 10,
  kPmf = 11,
  kReward = 12,
  kShadowPmfs = 15,
};
constexpr const char* kColumnNames[kFields] = {
    "event_id", "experiment", "variant", "timestamp_us", "unit_id", "context_dense",
    "context_sparse", "actions", "chosen_index", "chosen_action", "propensity", "pmf",
    "reward", "policy_spec", "policy_version", "shadow_pmfs"};

template <typename T>
bool ParseNumber(std::string_view s, T* value) {
  if (s.empty()) return false;
  const char* begin = s.data();
  if (*begin == '+') ++begin;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(begin, end, *value);
  return ec == std::errc() && ptr == end;
}

// Parses `s` as `;`-separated doubles into `out`. Returns false on a bad number.
bool ParseDoubleList(std::string_view s, std::vector<double>* out) {
  out->clear();
  if (s.empty()) return true;
  size_t start = 0;
  while (true) {
    const size_t semi = s.find(';', start);
    const std::string_view item =
        s.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start);
    double v;
    if (!ParseNumber(item, &v) || !std::isfinite(v)) return false;
    out->push_back(v);
    if (semi == std::string_view::npos) return true;
    start = semi + 1;
  }
}

// Splits `s` at `sep` into views.
void SplitViews(std::string_view s, char sep, std::vector<std::string_view>* out) {
  out->clear();
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    if (at == std::string_view::npos) {
      out->push_back(s.substr(start));
      return;
    }
    out->push_back(s.substr(start, at - start));
    start = at + 1;
  }
}

// Returns the logged pmf of `spec` from a shadow_pmfs field (`spec=p;p|...`;
// a spec may contain '=', the last one separates it from the pmf), or false.
bool FindShadow(std::string_view field, std::string_view spec, std::string_view* pmf) {
  size_t start = 0;
  while (start <= field.size()) {
    size_t bar = field.find('|', start);
    if (bar == std::string_view::npos) bar = field.size();
    const std::string_view item = field.substr(start, bar - start);
    const size_t eq = item.rfind('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == spec) {
      *pmf = item.substr(eq + 1);
      return true;
    }
    start = bar + 1;
  }
  return false;
}

// Checks a round's logging pmf against its propensity.
absl::Status CheckLoggingPmf(const std::vector<double>& pmf, size_t actions, int32_t chosen,
                             double propensity) {
  if (pmf.size() != actions) {
    return absl::InvalidArgumentError(
        absl::StrCat("pmf has ", pmf.size(), " entries for ", actions, " actions"));
  }
  double sum = 0;
  for (double p : pmf) {
    if (p < 0 || p > 1 + 1e-9) return absl::InvalidArgumentError("pmf entry outside [0, 1]");
    sum += p;
  }
  if (std::abs(sum - 1) > 1e-6) {
    return absl::InvalidArgumentError(absl::StrCat("pmf sums to ", sum, ", not 1"));
  }
  if (std::abs(pmf[chosen] - propensity) > 1e-6 * std::max(1.0, propensity)) {
    return absl::InvalidArgumentError(absl::StrCat("propensity ", propensity,
                                                   " differs from pmf[chosen_index] ",
                                                   pmf[chosen]));
  }
  return absl::OkStatus();
}

absl::Status CheckPropensity(double p) {
  if (p == 0) {
    return absl::InvalidArgumentError(
        "propensity is zero: the logged action could not have been chosen, so no "
        "importance weight exists (the logger must record propensities > 0)");
  }
  if (!(p > 0) || p > 1) {
    return absl::InvalidArgumentError(absl::StrCat("propensity ", p, " outside (0, 1]"));
  }
  return absl::OkStatus();
}

// Builds a round's target pmf over its offered actions (ids by index) into
// `out`; `shadow_pmf` is the parsed shadow pmf for kShadow, `key` the unit id
// for kTable.
absl::Status TargetPmfOf(const ExportTarget& target,
                         const std::vector<std::string_view>& action_ids,
                         const std::vector<double>& shadow_pmf, const std::string& key,
                         std::vector<double>* out, bool* renormalized) {
  const size_t m = action_ids.size();
  out->assign(m, 0.0);
  *renormalized = false;
  switch (target.kind) {
    case ExportTarget::Kind::kUniform:
      for (double& p : *out) p = 1.0 / m;
      return absl::OkStatus();
    case ExportTarget::Kind::kShadow:
      if (shadow_pmf.size() != m) {
        return absl::InvalidArgumentError(absl::StrCat("shadow ", Quote(target.shadow_spec), " has ",
                                                       shadow_pmf.size(), " probabilities for ",
                                                       m, " actions"));
      }
      *out = shadow_pmf;
      return absl::OkStatus();
    case ExportTarget::Kind::kPolicy:
      return absl::InvalidArgumentError("policy targets need the decisions' contexts");
    case ExportTarget::Kind::kTable: {
      const auto* pmf = target.table->Find(key);
      if (pmf == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("--target_pmf has no row for context key ", Quote(key), " and no '*' rows"));
      }
      double sum = 0;
      for (size_t a = 0; a < m; ++a) {
        for (const auto& [id, p] : *pmf) {
          if (action_ids[a] == id) (*out)[a] = p;
        }
        sum += (*out)[a];
      }
      if (!(sum > 0)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--target_pmf gives no mass to any offered action (context key ", Quote(key), ")"));
      }
      if (std::abs(sum - 1) > 1e-9) {
        for (double& p : *out) p /= sum;
        *renormalized = true;
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// Splits the line at `p` into kFields comma-separated fields with SSE2 when
// the line has no '"', exactly kFields fields, and is followed by '\n' at
// least 16 bytes before `end`; returns false (nothing consumed) otherwise, and
// the caller takes the general RFC 4180 path.
bool SplitUnquotedLine(const char* p, const char* end, std::string_view* f, int* nf_out) {
  const __m128i comma_v = _mm_set1_epi8(',');
  const __m128i newline_v = _mm_set1_epi8('\n');
  const __m128i quote_v = _mm_set1_epi8('"');
  const char* field_start = p;
  int nf = 0;
  for (const char* q = p; end - q >= 16; q += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const unsigned nl = _mm_movemask_epi8(_mm_cmpeq_epi8(v, newline_v));
    const unsigned before = nl ? (nl & (0u - nl)) - 1 : 0xFFFFu;
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote_v)) & before) return false;
    unsigned commas = _mm_movemask_epi8(_mm_cmpeq_epi8(v, comma_v)) & before;
    while (commas) {
      const char* at = q + __builtin_ctz(commas);
      if (nf >= kFields - 1) return false;
      f[nf++] = std::string_view(field_start, at - field_start);
      field_start = at + 1;
      commas &= commas - 1;
    }
    if (nl) {
      if (nf != kFields - 1) return false;
      const char* at = q + __builtin_ctz(nl);
      f[nf++] = std::string_view(field_start, at - field_start);
      *nf_out = nf;
      return true;
    }
  }
  return false;
}

// A bounded map from two text fields to a pmf row number. Not thread-safe.
class RowCache {
 public:
  // Returns the row cached for (a, b), or -1.
  int64_t Find(std::string_view a, std::string_view b) const {
    auto it = map_.find(Key(a, b));
    if (it == map_.end() || it->second.a != a || it->second.b != b) return -1;
    return it->second.row;
  }
  // Caches `row` for (a, b) while fewer than kMaxEntries are cached. The views
  // must outlive the cache.
  void Insert(std::string_view a, std::string_view b, int64_t row) {
    if (map_.size() < kMaxEntries) map_.insert({Key(a, b), Entry{a, b, row}});
  }

 private:
  static constexpr size_t kMaxEntries = 1 << 16;
  struct Entry {
    std::string_view a, b;
    int64_t row;
  };
  static size_t Key(std::string_view a, std::string_view b) {
    return absl::Hash<std::pair<absl::string_view, absl::string_view>>{}(
        std::make_pair(ToAbsl(a), ToAbsl(b)));
  }
  absl::flat_hash_map<size_t, Entry> map_;
};

// Returns the unescaped content of a CSV field (quotes removed, "" -> ").
std::string_view Unquote(std::string_view raw, std::string* scratch) {
  if (raw.size() < 2 || raw.front() != '"') return raw;
  raw = raw.substr(1, raw.size() - 2);
  if (raw.find('"') == std::string_view::npos) return raw;
  scratch->clear();
  for (size_t i = 0; i < raw.size(); ++i) {
    scratch->push_back(raw[i]);
    if (raw[i] == '"') ++i;
  }
  return *scratch;
}

}  // namespace

const std::vector<std::pair<std::string, double>>* TargetPmfTable::Find(
    const std::string& key) const {
  auto it = pmfs.find(key);
  if (it == pmfs.end()) it = pmfs.find("*");
  return it == pmfs.end() ? nullptr : &it->second;
}

FeatureSpace ExportFeatureSpace(int32_t dense_dim) {
  FeatureSpace space;
  space.dense_dim = dense_dim;
  space.hash_bits = kExportHashBits;
  return space;
}

FeatureSpace RewardFeatureSpace(const LoggedData& data) {
  FeatureSpace space = ExportFeatureSpace(
      data.decisions.empty() ? 0 : data.decisions[0].context.dense_size());
  if (!data.config.name().empty()) space.hash_bits = data.config.hash_bits();
  return space;
}

void SetShadowTarget(absl::string_view spec, ExportTarget* target) {
  target->kind = ExportTarget::Kind::kShadow;
  target->shadow_spec = std::string(spec);
  absl::StatusOr<std::string> canonical = CanonicalPolicySpec(spec);
  target->shadow_canonical = canonical.ok() ? *canonical : target->shadow_spec;
}

absl::StatusOr<TargetPmfTable> ReadTargetPmfCsv(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  TargetPmfTable table;
  std::vector<std::string_view> fields;
  LineReader lines(text);
  std::string_view line;
  while (lines.Next(&line)) {
    const int64_t line_no = lines.line_number();
    if (line.empty() || line[0] == '#') continue;
    if (line_no == 1 && line.substr(0, 11) == "context_key") continue;
    SplitViews(line, ',', &fields);
    const std::string where = absl::StrCat(path, ":", line_no, ": ");
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "expected context_key,action,probability (3 fields), got ", fields.size()));
    }
    double p;
    if (!ParseNumber(fields[2], &p) || p < 0 || p > 1) {
      return absl::InvalidArgumentError(absl::StrCat(where, "probability ", Quote(ToAbsl(fields[2])),
                                                     " is not a number in [0, 1]"));
    }
    auto& pmf = table.pmfs[std::string(fields[0])];
    for (const auto& [id, q] : pmf) {
      if (id == fields[1]) {
        return absl::InvalidArgumentError(absl::StrCat(where, "action '", ToAbsl(fields[1]),
                                                       "' repeated for context key '",
                                                       ToAbsl(fields[0]), "'"));
      }
    }
    pmf.emplace_back(std::string(fields[1]), p);
  }
  if (table.pmfs.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no rows"));
  for (auto& [key, pmf] : table.pmfs) {
    double sum = 0;
    for (const auto& entry : pmf) sum += entry.second;
    if (std::abs(sum - 1) > 1e-5) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: probabilities of context key '%s' sum to %.9g, not 1", path, key, sum));
    }
    for (auto& entry : pmf) entry.second /= sum;  // exact 1 despite rounded input
  }
  return table;
}

absl::StatusOr<PositionPmfs> PositionPmfsFromTable(const TargetPmfTable& table,
                                                   int32_t num_items, int32_t num_positions) {
  PositionPmfs out(num_positions);
  for (int32_t p = 1; p <= num_positions; ++p) {
    const auto* pmf = table.Find(std::to_string(p));
    if (pmf == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target_pmf has no rows for position ", p, " (context_key ", p, ")"));
    }
    out[p - 1].assign(num_items, 0.0);
    for (const auto& [id, prob] : *pmf) {
      int32_t item;
      if (!ParseNumber(std::string_view(id), &item) || item < 0 || item >= num_items) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--target_pmf: action ", Quote(id), " is not an item id in [0, ", num_items, ")"));
      }
      out[p - 1][item] = prob;
    }
  }
  return out;
}

absl::StatusOr<ExportRounds> ReadExportCsv(const std::string& path,
                                           const ExportReadOptions& options) {
  if (options.target.kind == ExportTarget::Kind::kPolicy) {
    ASSIGN_OR_RETURN(LoggedData data, ReadLoggedDataFromFile(path));
    return RoundsFromLoggedData(data, options, path);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  const std::string_view data = file->data();
  const char* p = data.data();
  const char* const end = p + data.size();
  // Header.
  const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
  std::string_view header(p, (eol ? eol : end) - p);
  if (!header.empty() && header.back() == '\r') header.remove_suffix(1);
  if (header != kExportHeader) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1: not a recbandit export CSV: the header must be ",
                     ToAbsl(kExportHeader)));
  }
  p = eol ? eol + 1 : end;

  ExportRounds result;
  LoggedRounds& r = result.rounds;
  const bool full = options.full;
  {
    // Reserve from the line density of the first MiB.
    const size_t sample = std::min<size_t>(end - p, 1 << 20);
    size_t lines = 0;
    for (const char* c = p; c < p + sample; ++c) lines += (*c == '\n');
    const size_t expected = sample > 0 ? lines * static_cast<double>(end - p) / sample + 16 : 16;
    r.action.reserve(expected);
    r.reward.reserve(expected);
    r.propensity.reserve(expected);
    r.target_prob.reserve(expected);
    if (full) {
      r.target_row.reserve(expected);
      r.logging_row.reserve(expected);
    }
  }
  const ExportTarget& target = options.target;
  absl::flat_hash_map<std::string, int32_t> action_index;
  // Offered action sets by their raw field (views into the mapped file).
  struct ActionSet {
    std::vector<int32_t> global;
    std::vector<std::string_view> ids;
    int64_t uniform_row = -1;
  };
  absl::flat_hash_map<std::string_view, int32_t> set_ids;
  std::vector<ActionSet> sets;
  constexpr size_t kMaxCachedSets = 1 << 16;
  ActionSet scratch_set;
  // Ids the export escaped ('%', ';', '|' as %25, %3B, %7C), unescaped; a
  // deque keeps the views into it valid.
  std::deque<std::string> unescaped_ids;
  std::string_view last_chosen_action;
  int32_t last_chosen_global = -1;
  // Pmf rows by their (pmf field, actions field) text, so repeated pmfs share
  // one row; views point into the mapped file (quoted fields are not cached).
  RowCache logging_cache, target_cache;

  // The reward model's features: each row's context (context_dense, then
  // context_sparse) through the serving feature path.
  const bool with_features = full && options.reward_features;
  std::optional<RewardFeatureBuilder> features;
  int32_t dense_dim = 0;
  Context context;

  std::string_view f[kFields];
  bool quoted[kFields];
  std::vector<double> pmf, shadow, tpmf, dense;
  std::string unquote_scratch[kFields];
  int64_t next_line = 2;  // line number where the next record starts
  int64_t line_no = 1;    // line number of the current record (for errors)
  auto error = [&](int column, const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": field ",
                                                   kColumnNames[column], ": ", what));
  };
  while (p < end) {
    line_no = next_line;
    int64_t extra_lines = 0;  // newlines inside quoted fields
    // Split one record into fields (RFC 4180 quoting, newlines inside quotes).
    int nf = 0;
    bool blank = (*p == '\n' || *p == '\r');
    if (!blank && SplitUnquotedLine(p, end, f, &nf)) {
      // Fast path: no quotes on this line; p now starts the next line.
      p = f[kFields - 1].data() + f[kFields - 1].size() + 1;
      if (!f[kFields - 1].empty() && f[kFields - 1].back() == '\r') {
        f[kFields - 1].remove_suffix(1);
      }
      for (bool& qd : quoted) qd = false;
    }
    const char* line_end = p;
    if (nf == 0) {
      line_end = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (line_end == nullptr) line_end = end;
    }
    if (nf == 0) while (true) {  // the general RFC 4180 path
      const char* start = p;
      bool q = false;
      if (p < end && *p == '"') {
        q = true;
        ++p;
        while (true) {
          const char* quote = static_cast<const char*>(std::memchr(p, '"', end - p));
          if (quote == nullptr) {
            return absl::InvalidArgumentError(
                absl::StrCat(path, ":", line_no, ": unterminated quoted field"));
          }
          for (const char* c = p; c < quote; ++c) extra_lines += (*c == '\n');
          p = quote + 1;
          if (p < end && *p == '"') {
            ++p;
            continue;
          }
          break;
        }
        if (p > line_end) {  // the quoted field spanned lines
          line_end = static_cast<const char*>(std::memchr(p, '\n', end - p));
          if (line_end == nullptr) line_end = end;
        }
      } else {
        const char* comma = static_cast<const char*>(std::memchr(p, ',', line_end - p));
        p = comma != nullptr ? comma : line_end;
      }
      std::string_view field(start, p - start);
      if (nf < kFields) {
        if (!q && !field.empty() && field.back() == '\r' && (p == end || *p == '\n')) {
          field.remove_suffix(1);
        }
        f[nf] = field;
        quoted[nf] = q;
      }
      ++nf;
      if (p < end && *p == ',') {
        ++p;
        continue;
      }
      if (p < end && *p == '\n') {
        ++p;
      } else if (q && p + 1 < end && p[0] == '\r' && p[1] == '\n') {
        p += 2;  // CRLF after a quoted last field
      } else if (p < end) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line_no, ": text after a closing quote"));
      }
      break;
    }
    next_line = line_no + extra_lines + 1;
    if (blank && nf == 1) continue;
    if (nf != kFields) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected ", kFields, " fields, got ", nf));
    }
    for (int c = 0; c < kFields; ++c) {
      if (quoted[c]) f[c] = Unquote(f[c], &unquote_scratch[c]);
    }
    // chosen_index, propensity, reward.
    int32_t chosen;
    if (!ParseNumber(f[kChosenIndex], &chosen) || chosen < 0) {
      return error(kChosenIndex, absl::StrCat("'", ToAbsl(f[kChosenIndex]),
                                              "' is not an integer >= 0"));
    }
    double propensity;
    if (!ParseNumber(f[kPropensity], &propensity)) {
      return error(kPropensity, absl::StrCat("'", ToAbsl(f[kPropensity]), "' is not a number"));
    }
    if (absl::Status s = CheckPropensity(propensity); !s.ok()) {
      return error(kPropensity, std::string(s.message()));
    }
    double reward = options.default_reward;
    if (f[kReward].empty()) {
      ++result.missing_rewards;
    } else if (!ParseNumber(f[kReward], &reward) || !std::isfinite(reward)) {
      return error(kReward, absl::StrCat("'", ToAbsl(f[kReward]), "' is not a finite number"));
    }
    // The offered action set.
    const ActionSet* set = nullptr;
    size_t num_offered = 0;
    if (full) {
      auto it = set_ids.find(f[kActions]);
      if (it != set_ids.end()) {
        set = &sets[it->second];
      } else {
        ActionSet fresh;
        SplitViews(f[kActions], ';', &fresh.ids);
        for (std::string_view& id : fresh.ids) {
          if (id.empty()) return error(kActions, "empty action id");
          if (id.find('%') != std::string_view::npos) {
            unescaped_ids.push_back(UnescapeListItem(ToAbsl(id)));
            id = unescaped_ids.back();
          }
          auto [slot, inserted] =
              action_index.emplace(std::string(id), static_cast<int32_t>(action_index.size()));
          if (inserted) r.action_names.emplace_back(id);
          fresh.global.push_back(slot->second);
        }
        if (sets.size() < kMaxCachedSets && !quoted[kActions]) {
          set_ids.emplace(f[kActions], static_cast<int32_t>(sets.size()));
          sets.push_back(std::move(fresh));
          set = &sets.back();
        } else {
          scratch_set = std::move(fresh);
          scratch_set.uniform_row = -1;
          set = &scratch_set;
        }
      }
      num_offered = set->global.size();
    } else {
      num_offered = f[kActions].empty() ? 0 : 1;
      for (char c : f[kActions]) num_offered += (c == ';');
    }
    if (num_offered == 0) return error(kActions, "no actions");
    if (static_cast<size_t>(chosen) >= num_offered) {
      return error(kChosenIndex, absl::StrCat(chosen, " is not below the ", num_offered,
                                              " offered actions"));
    }
    // The chosen action's global index.
    int32_t chosen_global;
    if (full) {
      chosen_global = set->global[chosen];
      if (set->ids[chosen] != f[kChosenAction]) {
        return error(kChosenAction, absl::StrCat("'", ToAbsl(f[kChosenAction]),
                                                 "' is not actions[chosen_index] '",
                                                 ToAbsl(set->ids[chosen]), "'"));
      }
    } else if (f[kChosenAction] == last_chosen_action && last_chosen_global >= 0) {
      chosen_global = last_chosen_global;
    } else {
      auto found = action_index.find(ToAbsl(f[kChosenAction]));
      if (found == action_index.end()) {
        found = action_index
                    .emplace(std::string(f[kChosenAction]),
                             static_cast<int32_t>(action_index.size()))
                    .first;
        r.action_names.emplace_back(f[kChosenAction]);
      }
      chosen_global = found->second;
      if (!quoted[kChosenAction]) {
        last_chosen_action = f[kChosenAction];
        last_chosen_global = chosen_global;
      }
    }
    // Target probability of the chosen action (and the target row when full).
    double target_prob = 0;
    int64_t cached_target_row = -1;
    std::string_view shadow_field;
    if (target.kind == ExportTarget::Kind::kShadow) {
      if (!FindShadow(f[kShadowPmfs], target.shadow_spec, &shadow_field) &&
          !FindShadow(f[kShadowPmfs], target.shadow_canonical, &shadow_field)) {
        return error(kShadowPmfs,
                     absl::StrCat("no shadow policy ", Quote(target.shadow_spec), " in this row"));
      }
      size_t entries = 1;
      for (char c : shadow_field) entries += (c == ';');
      if (entries != num_offered) {
        return error(kShadowPmfs, absl::StrCat("shadow ", Quote(target.shadow_spec), " has ",
                                               entries, " probabilities for ", num_offered,
                                               " actions"));
      }
      if (full) {
        // A pmf text seen before already has its row; parse only new ones.
        cached_target_row = target_cache.Find(shadow_field, f[kActions]);
        if (cached_target_row < 0) {
          if (!ParseDoubleList(shadow_field, &shadow)) {
            return error(kShadowPmfs, "malformed shadow pmf");
          }
          target_prob = shadow[chosen];
        }
      } else {
        // Only the chosen action's entry is needed.
        size_t start = 0;
        for (int32_t k = 0; k < chosen; ++k) start = shadow_field.find(';', start) + 1;
        const size_t stop = shadow_field.find(';', start);
        const std::string_view item = shadow_field.substr(
            start, stop == std::string_view::npos ? std::string_view::npos : stop - start);
        if (!ParseNumber(item, &target_prob) || !(target_prob >= 0) || target_prob > 1) {
          return error(kShadowPmfs, absl::StrCat("malformed shadow probability '",
                                                 ToAbsl(item), "'"));
        }
      }
    } else if (target.kind == ExportTarget::Kind::kUniform) {
      target_prob = 1.0 / num_offered;
    }
    if (full || target.kind == ExportTarget::Kind::kTable) {
      std::vector<std::string_view> ids_local;
      if (!full) SplitViews(f[kActions], ';', &ids_local);
      const std::vector<std::string_view>& ids = full ? set->ids : ids_local;
      int64_t row = -1;
      if (target.kind == ExportTarget::Kind::kUniform && full && set != &scratch_set &&
          set->uniform_row >= 0) {
        row = set->uniform_row;
      } else if (target.kind == ExportTarget::Kind::kShadow && full && cached_target_row >= 0) {
        row = cached_target_row;
      } else {
        bool renormalized = false;
        absl::Status s = TargetPmfOf(target, ids, shadow, std::string(f[kUnitId]), &tpmf,
                                     &renormalized);
        if (!s.ok()) return error(target.kind == ExportTarget::Kind::kTable ? kUnitId : kShadowPmfs,
                                  std::string(s.message()));
        result.target_renormalized += renormalized;
        target_prob = tpmf[chosen];
        if (full) {
          row = r.target_pmfs.AddRow(set->global, tpmf);
          if (target.kind == ExportTarget::Kind::kUniform && set != &scratch_set) {
            sets[set - sets.data()].uniform_row = row;
          }
          if (target.kind == ExportTarget::Kind::kShadow && !quoted[kShadowPmfs] &&
              !quoted[kActions]) {
            target_cache.Insert(shadow_field, f[kActions], row);
          }
        }
      }
      if (full) {
        target_prob = r.target_pmfs.Prob(row, chosen_global);
        r.target_row.push_back(row);
      }
    }
    if (full) {
      // Logging pmf row, shared by rounds that log the same pmf.
      int64_t lrow = logging_cache.Find(f[kPmf], f[kActions]);
      if (lrow < 0) {
        if (!ParseDoubleList(f[kPmf], &pmf)) return error(kPmf, "malformed number");
        if (absl::Status s = CheckLoggingPmf(pmf, num_offered, chosen, propensity); !s.ok()) {
          return error(kPmf, std::string(s.message()));
        }
        lrow = r.logging_pmfs.AddRow(set->global, pmf);
        if (!quoted[kPmf] && !quoted[kActions]) logging_cache.Insert(f[kPmf], f[kActions], lrow);
      } else if (std::abs(r.logging_pmfs.Prob(lrow, chosen_global) - propensity) >
                 1e-6 * std::max(1.0, propensity)) {
        return error(kPropensity, "differs from pmf[chosen_index]");
      }
      r.logging_row.push_back(lrow);
    }
    if (full && !with_features) {
      // Not used, but damage is reported all the same.
      if (!ParseDoubleList(f[kContextDense], &dense)) {
        return error(kContextDense, "malformed number");
      }
      if (r.reward.empty()) {
        dense_dim = static_cast<int32_t>(dense.size());
      } else if (static_cast<int32_t>(dense.size()) != dense_dim) {
        return error(kContextDense, absl::StrCat(dense.size(), " values where earlier rows had ",
                                                 dense_dim));
      }
    }
    if (with_features) {
      if (!ParseDoubleList(f[kContextDense], &dense)) {
        return error(kContextDense, "malformed number");
      }
      if (!features.has_value()) {
        dense_dim = static_cast<int32_t>(dense.size());
        const FeatureSpace space = ExportFeatureSpace(dense_dim);
        if (absl::Status s = ValidateFeatureSpace(space); !s.ok()) {
          return error(kContextDense, std::string(s.message()));
        }
        features.emplace(space);
      } else if (static_cast<int32_t>(dense.size()) != dense_dim) {
        return error(kContextDense, absl::StrCat(dense.size(), " values where earlier rows had ",
                                                 dense_dim));
      }
      context.Clear();
      for (double v : dense) context.add_dense(static_cast<float>(v));
      if (absl::Status s = ParseContextSparse(ToAbsl(f[kContextSparse]), &context); !s.ok()) {
        return error(kContextSparse, std::string(s.message()));
      }
      if (absl::Status s = features->Add(context); !s.ok()) {
        return error(kContextSparse, std::string(s.message()));
      }
    }
    r.action.push_back(chosen_global);
    r.propensity.push_back(propensity);
    r.reward.push_back(reward);
    r.target_prob.push_back(target_prob);
  }
  r.num_actions = static_cast<int32_t>(action_index.size());
  if (r.reward.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no data rows"));
  if (features.has_value()) {
    if (absl::Status s = features->Finish(&r.feature_dim, &r.features); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
    }
  }
  return result;
}

absl::StatusOr<ExportRounds> RoundsFromLoggedData(const LoggedData& data,
                                                  const ExportReadOptions& options,
                                                  const std::string& source) {
  ExportRounds result;
  LoggedRounds& r = result.rounds;
  absl::flat_hash_map<std::string, int32_t> action_index;
  std::vector<std::string_view> ids;
  std::vector<int32_t> global;
  std::vector<double> tpmf;
  DecisionInput input;
  Decision decision;
  // The reward model's features: each decision's logged context through the
  // serving feature path, hashed as the experiment hashed it.
  std::optional<RewardFeatureBuilder> features;
  FeatureSpace space;
  static const std::vector<double> kNoShadow;
  int64_t k = 0;
  for (const LoggedDecision& d : data.decisions) {
    ++k;
    auto error = [&](const std::string& what) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": decision ", k, " (event ",
                                                     d.event_id, "): ", what));
    };
    const size_t m = d.actions.size();
    if (m == 0) return error("no actions");
    if (d.chosen < 0 || static_cast<size_t>(d.chosen) >= m) {
      return error(absl::StrCat("chosen_index ", d.chosen, " outside [0, ", m, ")"));
    }
    if (absl::Status s = CheckPropensity(d.propensity); !s.ok()) {
      return error(std::string(s.message()));
    }
    if (absl::Status s = CheckLoggingPmf(d.pmf, m, d.chosen, d.propensity); !s.ok()) {
      return error(std::string(s.message()));
    }
    ids.clear();
    global.clear();
    for (const Action& a : d.actions) {
      ids.push_back(a.id());
      auto [slot, inserted] =
          action_index.emplace(a.id(), static_cast<int32_t>(action_index.size()));
      if (inserted) r.action_names.push_back(a.id());
      global.push_back(slot->second);
    }
    const std::vector<double>* shadow = &kNoShadow;
    if (options.target.kind == ExportTarget::Kind::kShadow) {
      shadow = nullptr;
      for (const LoggedShadow& s : d.shadows) {
        if (shadow == nullptr && (s.policy_spec == options.target.shadow_spec ||
                                  s.policy_spec == options.target.shadow_canonical)) {
          shadow = &s.pmf;
        }
      }
      if (shadow == nullptr) {
        return error(absl::StrCat("no shadow policy ", Quote(options.target.shadow_spec)));
      }
    }
    bool renormalized = false;
    if (options.target.kind == ExportTarget::Kind::kPolicy) {
      if (absl::Status s = BuildDecisionInput(options.target.space, d.context,
                                              absl::MakeConstSpan(d.actions), &input);
          !s.ok()) {
        return error(absl::StrCat("target policy input: ", s.message()));
      }
      if (absl::Status s = options.target.policy->Choose(input, StableHash64(d.event_id),
                                                         &decision);
          !s.ok()) {
        return error(absl::StrCat("target policy: ", s.message()));
      }
      if (decision.pmf.size() != m) {
        return error("target policy returned no pmf");
      }
      tpmf = decision.pmf;
    } else if (absl::Status s = TargetPmfOf(options.target, ids, *shadow, d.unit_id, &tpmf,
                                            &renormalized);
               !s.ok()) {
      return error(std::string(s.message()));
    }
    result.target_renormalized += renormalized;
    r.target_row.push_back(r.target_pmfs.AddRow(global, tpmf));
    r.logging_row.push_back(r.logging_pmfs.AddRow(global, d.pmf));
    r.action.push_back(global[d.chosen]);
    r.propensity.push_back(d.propensity);
    r.target_prob.push_back(tpmf[d.chosen]);
    if (!d.has_reward) ++result.missing_rewards;
    r.reward.push_back(d.RewardOr(options.default_reward));
    if (!options.reward_features) continue;
    const int32_t dim = d.context.dense_size();
    if (!features.has_value()) {
      space = RewardFeatureSpace(data);
      if (absl::Status s = ValidateFeatureSpace(space); !s.ok()) {
        return error(absl::StrCat("context: ", s.message()));
      }
      features.emplace(space);
    } else if (dim != space.dense_dim) {
      return error(absl::StrCat("context has ", dim, " dense features where earlier decisions had ",
                                space.dense_dim));
    }
    if (absl::Status s = features->Add(d.context); !s.ok()) {
      return error(absl::StrCat("reward model features: ", s.message()));
    }
  }
  r.num_actions = static_cast<int32_t>(action_index.size());
  if (r.reward.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": no decisions"));
  if (features.has_value()) {
    if (absl::Status s = features->Finish(&r.feature_dim, &r.features); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(source, ": ", s.message()));
    }
  }
  return result;
}

}  // namespace recbandit::bandits
