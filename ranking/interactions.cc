// Interactions: the file parser (memory-mapped, a one-pass fast path for plain
// lines that looks ids up a few lines after prefetching them, from_chars
// numbers), id maps (short ids in a ShortIdTable) and the CSR builder (two
// counting sorts, duplicates summed).
#include "ranking/interactions.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "proto/core/string_view.h"

namespace recbandit::ranking {

// ------------------------------------------------------------------ IdMap

IdMap::IdMap(const IdMap& other) { *this = other; }

IdMap& IdMap::operator=(const IdMap& other) {
  if (this == &other) return *this;
  names_.clear();
  short_index_.Clear();
  index_.clear();
  numeric_.clear();
  index_.reserve(other.index_.size());
  for (const std::string& name : other.names_) GetOrAdd(name);
  return *this;
}

int64_t IdMap::NumericValue(std::string_view id) {
  if (id.empty() || id.size() > 8 || (id[0] == '0' && id.size() > 1)) return -1;
  int64_t v = 0;
  for (char c : id) {
    const unsigned d = static_cast<unsigned char>(c) - '0';
    if (d > 9) return -1;
    v = v * 10 + d;
  }
  return v < kMaxNumericId ? v : -1;
}

IdMap::Probe& IdMap::Hashed(Probe& probe) const {  // REQUIRES: a short id
  if (!probe.hashed) {
    probe.key = internal::ShortIdTable::KeyOf(probe.id);
    probe.hash = short_index_.Hash(probe.key);
    probe.hashed = true;
  }
  return probe;
}

int32_t IdMap::FindHashed(Probe probe) const {
  if (probe.id.size() <= kMaxShortKey) {
    Hashed(probe);
    return short_index_.Find(probe.key, probe.hash);
  }
  if (index_.empty()) return -1;
  auto it = index_.find(ToAbsl(probe.id));
  return it == index_.end() ? -1 : it->second;
}

IdMap::Probe IdMap::Prefetch(std::string_view id) const {
  Probe probe;
  probe.id = id;
  probe.numeric = NumericValue(id);
  if (probe.numeric >= 0 && static_cast<size_t>(probe.numeric) < numeric_.size()) {
    __builtin_prefetch(numeric_.data() + probe.numeric);
  } else if (id.size() <= kMaxShortKey) {
    short_index_.Prefetch(Hashed(probe).hash);
  } else if (!index_.empty()) {
    index_.prefetch(ToAbsl(id));
  }
  return probe;
}

int32_t IdMap::GetOrAdd(std::string_view id) {
  Probe probe;
  probe.id = id;
  probe.numeric = NumericValue(id);
  return GetOrAdd(probe);
}

int32_t IdMap::GetOrAdd(const Probe& probe) {
  const std::string_view id = probe.id;
  const int64_t numeric = probe.numeric;
  if (numeric >= 0) {
    if (static_cast<size_t>(numeric) < numeric_.size() && numeric_[numeric] != 0) {
      return numeric_[numeric] - 1;
    }
    if (const int32_t hashed = FindHashed(probe); hashed >= 0) return hashed;
    const int64_t limit = kNumericSlack * (static_cast<int64_t>(names_.size()) + 4096);
    if (numeric < limit) {
      if (static_cast<size_t>(numeric) >= numeric_.size()) {
        const int64_t doubled = std::min<int64_t>(limit, 2 * numeric_.size());
        numeric_.resize(std::max<int64_t>(numeric + 1, doubled), 0);
      }
      names_.emplace_back(id);
      numeric_[numeric] = static_cast<int32_t>(names_.size());
      return numeric_[numeric] - 1;
    }
  }
  const int32_t next = static_cast<int32_t>(names_.size());
  if (id.size() <= kMaxShortKey) {
    internal::ShortIdTable::Key key = probe.key;
    uint64_t hash = probe.hash;
    if (!probe.hashed) {
      key = internal::ShortIdTable::KeyOf(id);
      hash = short_index_.Hash(key);
    }
    bool added;
    const int32_t got = short_index_.FindOrInsert(key, hash, next, &added);
    if (added) names_.emplace_back(id);
    return got;
  }
  auto it = index_.find(ToAbsl(id));
  if (it != index_.end()) return it->second;
  names_.emplace_back(id);
  index_.emplace(absl::string_view(names_.back()), next);
  return next;
}

int32_t IdMap::Find(std::string_view id) const {
  const int64_t numeric = NumericValue(id);
  if (numeric >= 0 && static_cast<size_t>(numeric) < numeric_.size() &&
      numeric_[numeric] != 0) {
    return numeric_[numeric] - 1;
  }
  Probe probe;
  probe.id = id;
  return FindHashed(probe);
}

size_t IdMap::MemoryBytes() const {
  size_t bytes = short_index_.MemoryBytes() +
                 index_.capacity() * (sizeof(absl::string_view) + sizeof(int32_t) + 1) +
                 numeric_.capacity() * sizeof(int32_t);
  for (const std::string& s : names_) {
    bytes += sizeof(std::string) + (s.size() > 15 ? s.capacity() + 1 : 0);
  }
  return bytes;
}

size_t InteractionLog::MemoryBytes() const {
  return users.MemoryBytes() + items.MemoryBytes() + event_types.MemoryBytes() +
         user.capacity() * sizeof(int32_t) + item.capacity() * sizeof(int32_t) +
         weight.capacity() * sizeof(float) + timestamp.capacity() * sizeof(int64_t) +
         event_type.capacity() * sizeof(int16_t);
}

const std::string& InteractionLog::EventTypeName(int64_t r) const {
  static const std::string* const kNone = new std::string();
  if (event_type.empty() || event_type[r] < 0) return *kNone;
  return event_types.Name(event_type[r]);
}

// ------------------------------------------------------------------ parsing

namespace {

constexpr int kMaxFields = 5;

inline bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view Unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

// Splits `line` into at most kMaxFields + 1 fields (one more than allowed, so
// the caller can report too many). Returns the number of fields found, which
// may exceed the array size (counted but not stored).
int SplitFields(std::string_view line, char delim,
                std::array<std::string_view, kMaxFields + 1>& out) {
  int n = 0;
  if (delim == ' ') {
    size_t i = 0;
    const size_t size = line.size();
    while (i < size) {
      while (i < size && IsBlank(line[i])) ++i;
      if (i >= size) break;
      const size_t start = i;
      while (i < size && !IsBlank(line[i])) ++i;
      if (n <= kMaxFields) out[n] = line.substr(start, i - start);
      ++n;
    }
    return n;
  }
  const char* p = line.data();
  const char* const end = p + line.size();
  for (;;) {
    const char* start = p;
    while (p < end && *p != delim) ++p;
    if (n <= kMaxFields) {
      std::string_view field(start, static_cast<size_t>(p - start));
      if (!field.empty() && (IsBlank(field.front()) || IsBlank(field.back()))) {
        field = Trim(field);
      }
      out[n] = field;
    }
    ++n;
    if (p == end) break;
    ++p;  // skip the delimiter
  }
  return n;
}

// Parses a plain decimal integer of at most 18 digits (optional '-').
// Returns false for anything else, so callers fall back to from_chars.
inline bool ParseSmallInt(std::string_view s, int64_t* out) {
  size_t i = 0;
  bool negative = false;
  if (!s.empty() && s[0] == '-') {
    negative = true;
    i = 1;
  }
  if (i == s.size() || s.size() - i > 18) return false;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    const unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return false;
    v = v * 10 + d;
  }
  *out = negative ? -v : v;
  return true;
}

bool ParseFloat(std::string_view s, float* out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  // Fast path: small integers ("1", "5") are exact in float.
  int64_t small;
  if (s.size() <= 7 && ParseSmallInt(s, &small)) {
    *out = static_cast<float>(small);
    return true;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool ParseTimestamp(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  if (ParseSmallInt(s, out)) return true;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc() && ptr == s.data() + s.size()) return true;
  double d;
  auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
  // Beyond int64 the conversion would be undefined: not a timestamp.
  if (ec2 != std::errc() || p2 != s.data() + s.size() || !std::isfinite(d) ||
      !(d > -9.2e18 && d < 9.2e18)) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

// Returns whether `s` is written as a number ([+-]digits[.digits][e[+-]digits],
// or nan/inf), whether or not its value fits: header detection must not take
// an out-of-range weight or timestamp for a column name (the data line is
// then refused with its line number instead).
bool LooksLikeNumber(std::string_view s) {
  std::string lower = absl::AsciiStrToLower(ToAbsl(s));
  absl::string_view t = lower;
  if (!t.empty() && (t.front() == '+' || t.front() == '-')) t.remove_prefix(1);
  if (t == "nan" || t == "inf" || t == "infinity") return true;
  size_t i = 0, digits = 0;
  while (i < t.size() && absl::ascii_isdigit(t[i])) ++i, ++digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && absl::ascii_isdigit(t[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < t.size() && t[i] == 'e') {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    const size_t exp_start = i;
    while (i < t.size() && absl::ascii_isdigit(t[i])) ++i;
    if (i == exp_start) return false;
  }
  return i == t.size();
}

bool LooksLikeUserColumn(std::string_view field) {
  std::string lower = absl::AsciiStrToLower(ToAbsl(Unquote(field)));
  return lower == "user" || lower == "userid" || lower == "user_id" ||
         lower == "uid" || lower == "users";
}

char DetectDelimiter(std::string_view first_line) {
  if (first_line.find(',') != std::string_view::npos) return ',';
  if (first_line.find('\t') != std::string_view::npos) return '\t';
  return ' ';
}

// The fast path for plain lines. A plain line has 2 to 5 non-empty fields of
// printable ASCII other than the quote mark and the delimiter (',' or '\t'),
// ends in "\n", "\r\n", or "\r" or nothing at the end of the input, and has
// numbers the general path accepts. On such a line no field needs trimming,
// unquoting or a UTF-8 check, so one pass over its bytes finds the fields.
// Every other line (blank, quoted, blanks, control bytes, NUL, non-ASCII,
// errors) goes to the general path, which alone produces messages.
class PlainLineScanner {
 public:
  // Byte classes.
  static constexpr uint8_t kText = 0, kDelimiter = 1, kOther = 2;

  explicit PlainLineScanner(char delim) {
    for (int c = 0; c < 256; ++c) {
      class_[c] = (c > 0x20 && c < 0x7f && c != '"') ? kText : kOther;
    }
    class_[static_cast<unsigned char>(delim)] = kDelimiter;
  }

  // Returns the position after the plain line starting at `p` (< end), its
  // fields in fields[0..*n), or nullptr when the line is not plain.
  const char* Scan(const char* p, const char* end, std::string_view* fields, int* n) const {
    int count = 0;
    for (;;) {
      const char* start = p;
      while (p < end && class_[static_cast<unsigned char>(*p)] == kText) ++p;
      if (p == start || count == kMaxFields) return nullptr;
      fields[count++] = std::string_view(start, static_cast<size_t>(p - start));
      if (p == end) break;
      if (class_[static_cast<unsigned char>(*p)] == kDelimiter) {
        ++p;
        continue;
      }
      if (*p == '\n') {
        ++p;
        break;
      }
      if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {
        p += p + 1 == end ? 1 : 2;
        break;
      }
      return nullptr;
    }
    if (count < 2) return nullptr;
    *n = count;
    return p;
  }

 private:
  std::array<uint8_t, 256> class_;
};

// Returns whether `s` is digits[.digits] with a value Clinger's fast path
// gives exactly: an integer mantissa m <= 2^24 and at most 10 fraction digits,
// so m / 10^k is one correctly rounded float division of exact operands, the
// value std::from_chars returns. False otherwise (the caller uses ParseFloat).
inline bool ParseSimpleDecimal(std::string_view s, float* out) {
  static constexpr float kPow10[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                                     1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
  const char* p = s.data();
  const char* const end = p + s.size();
  uint64_t m = 0;
  int digits = 0, fraction = -1;
  for (; p < end; ++p) {
    const unsigned d = static_cast<unsigned char>(*p) - '0';
    if (d <= 9) {
      if (++digits > 15) return false;
      m = m * 10 + d;
      if (fraction >= 0) ++fraction;
    } else if (*p == '.' && fraction < 0 && digits > 0) {
      fraction = 0;
    } else {
      return false;
    }
  }
  if (digits == 0 || fraction == 0 || fraction > 10 || m > (uint64_t{1} << 24)) return false;
  *out = static_cast<float>(m);
  if (fraction > 0) *out /= kPow10[fraction];
  return true;
}

}  // namespace

namespace internal {

absl::StatusOr<InteractionLog> ParseInteractions(std::string_view contents,
                                                 std::string_view name,
                                                 const LoadOptions& options, LoadStats* stats,
                                                 bool fast_path) {
  LoadStats local_stats;
  LoadStats& st = stats != nullptr ? *stats : local_stats;
  st = LoadStats();
  InteractionLog log;
  // A rough reserve: ~20 bytes per line for typical files.
  const size_t guess = contents.size() / 20 + 16;
  log.user.reserve(guess);
  log.item.reserve(guess);
  log.weight.reserve(guess);
  log.timestamp.reserve(guess);

  char delim = options.delimiter == '\t' || options.delimiter == ','
                   ? options.delimiter
                   : (options.delimiter != 0 ? ' ' : 0);
  bool first_data_line = true;
  std::array<std::string_view, kMaxFields + 1> fields;
  // The previous line's ids, as views into `contents` (still in cache, where
  // the names in the id maps may not be).
  std::string_view last_user, last_item, last_type;
  int32_t last_user_id = -1, last_item_id = -1, last_type_id = -1;
  int64_t line_no = 0;
  size_t pos = 0;
  const size_t size = contents.size();

  auto bad_line = [&](int64_t line, std::string what) -> absl::Status {
    std::string msg = absl::StrFormat("%s:%d: %s", name, line, what);
    if (!options.skip_bad_lines) return absl::InvalidArgumentError(msg);
    if (st.skipped_lines == 0) st.first_error = msg;
    ++st.skipped_lines;
    return absl::OkStatus();
  };

  std::unique_ptr<PlainLineScanner> scanner;
  std::array<std::string_view, kMaxFields> plain;
  // Plain lines parsed ahead of their id lookups: each line's ids are
  // prefetched when it is parsed and looked up kAhead lines later, so the
  // hash buckets' cache misses (200k users: megabytes of table) overlap with
  // parsing instead of stalling each line in turn.
  struct PlainRow {
    IdMap::Probe user, item;
    float weight;
    int64_t ts;
    int16_t type;
    bool has_ts;
  };
  constexpr int64_t kAhead = 8;  // 4 to 16 measured alike (bench/RESULTS.md)
  std::array<PlainRow, kAhead> ahead;
  while (pos < size) {
    // After the header question is settled, plain lines take the fast path;
    // the first line that is not plain falls through to the general one.
    if (fast_path && !first_data_line && (delim == ',' || delim == '\t')) {
      if (scanner == nullptr) scanner = std::make_unique<PlainLineScanner>(delim);
      const char* const end = contents.data() + size;
      const char* scan = contents.data() + pos;  // the next line to parse
      int64_t parsed = 0, done = 0;
      bool more = true;
      for (;;) {
        while (more && parsed - done < kAhead) {
          int n = 0;
          const char* next = scan < end ? scanner->Scan(scan, end, plain.data(), &n) : nullptr;
          if (next == nullptr) {
            more = false;
            break;
          }
          PlainRow& row = ahead[parsed % kAhead];
          row.weight = 1.0f;
          if (n >= 3 && !ParseSimpleDecimal(plain[2], &row.weight) &&
              (!ParseFloat(plain[2], &row.weight) || !std::isfinite(row.weight) ||
               row.weight < 0)) {
            more = false;
            break;
          }
          row.ts = 0;
          if (n >= 4 && !ParseTimestamp(plain[3], &row.ts)) {
            more = false;
            break;
          }
          row.type = -1;
          if (n == 5) {  // a type met before; a new one is checked by the general path
            if (plain[4] != last_type || last_type_id < 0) {
              more = false;
              break;
            }
            row.type = static_cast<int16_t>(last_type_id);
          }
          row.has_ts = n >= 4;
          row.user = log.users.Prefetch(plain[0]);
          row.item = log.items.Prefetch(plain[1]);
          ++parsed;
          scan = next;
        }
        if (done == parsed) break;
        const PlainRow& row = ahead[done % kAhead];
        ++done;
        if (row.has_ts) log.has_timestamps = true;
        if (row.user.id != last_user || last_user_id < 0) {
          last_user_id = log.users.GetOrAdd(row.user);
          last_user = row.user.id;
        }
        if (row.item.id != last_item || last_item_id < 0) {
          last_item_id = log.items.GetOrAdd(row.item);
          last_item = row.item.id;
        }
        log.Add(last_user_id, last_item_id, row.weight, row.ts, row.type);
      }
      // Every line parsed was added: resume after the last one.
      st.lines += done;
      line_no += done;
      pos = static_cast<size_t>(scan - contents.data());
      if (pos >= size) break;
    }
    const void* nl = std::memchr(contents.data() + pos, '\n', size - pos);
    const size_t end = nl == nullptr
                           ? size
                           : static_cast<size_t>(static_cast<const char*>(nl) - contents.data());
    std::string_view line = contents.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Blank lines are ignored.
    size_t k = 0;
    while (k < line.size() && IsBlank(line[k])) ++k;
    if (k == line.size()) continue;

    if (delim == 0) delim = DetectDelimiter(line);
    const int n = SplitFields(line, delim, fields);

    if (first_data_line) {
      first_data_line = false;
      bool header = options.header == LoadOptions::Header::kYes;
      if (options.header == LoadOptions::Header::kAuto) {
        header = (n >= 1 && LooksLikeUserColumn(fields[0])) ||
                 (n >= 3 && n <= kMaxFields && !LooksLikeNumber(fields[2])) ||
                 (n >= 4 && n <= kMaxFields && !LooksLikeNumber(fields[3]));
      }
      if (header) {
        st.had_header = true;
        continue;
      }
    }

    if (n < 2 || n > kMaxFields) {
      RETURN_IF_ERROR(bad_line(
          line_no, absl::StrFormat("expected 2 to 5 fields "
                                   "(user,item[,weight[,timestamp[,event_type]]]), got %d", n)));
      continue;
    }
    const std::string_view user = Unquote(fields[0]);
    const std::string_view item = Unquote(fields[1]);
    if (user.empty() || item.empty()) {
      RETURN_IF_ERROR(bad_line(line_no, user.empty() ? "empty user id" : "empty item id"));
      continue;
    }
    // Ids travel in JSON and protobuf strings: they must be valid UTF-8.
    if ((user != last_user && !IsValidUtf8(ToAbsl(user))) ||
        (item != last_item && !IsValidUtf8(ToAbsl(item)))) {
      const bool bad_user = !IsValidUtf8(ToAbsl(user));
      RETURN_IF_ERROR(bad_line(
          line_no, absl::StrCat(bad_user ? "user id " : "item id ",
                                Quote(ToAbsl(bad_user ? user : item)), " is not valid UTF-8")));
      continue;
    }
    float weight = 1.0f;
    if (n >= 3) {
      if (!ParseFloat(fields[2], &weight) || !std::isfinite(weight)) {
        RETURN_IF_ERROR(bad_line(
            line_no, absl::StrCat("weight ", Quote(ToAbsl(fields[2])), " is not a finite number")));
        continue;
      }
      if (weight < 0) {
        RETURN_IF_ERROR(bad_line(
            line_no, absl::StrCat("weight ", weight, " is negative (must be >= 0)")));
        continue;
      }
    }
    int64_t ts = 0;
    if (n >= 4) {
      if (!ParseTimestamp(fields[3], &ts)) {
        RETURN_IF_ERROR(bad_line(
            line_no, absl::StrCat("timestamp ", Quote(ToAbsl(fields[3])), " is not a number")));
        continue;
      }
      log.has_timestamps = true;
    }
    int16_t type = -1;
    if (n == 5 && !Unquote(fields[4]).empty()) {  // an empty column: no type
      const std::string_view name = Unquote(fields[4]);
      if (name != last_type || last_type_id < 0) {
        const absl::Status valid = ValidateName(ToAbsl(name), "event_type");
        if (!valid.ok()) {
          RETURN_IF_ERROR(bad_line(line_no, std::string(valid.message())));
          continue;
        }
        const int32_t id = log.event_types.GetOrAdd(name);
        if (id >= InteractionLog::kMaxEventTypes) {
          RETURN_IF_ERROR(bad_line(line_no, absl::StrCat("more than ",
                                                         InteractionLog::kMaxEventTypes,
                                                         " distinct event types")));
          continue;
        }
        last_type_id = id;
        last_type = log.event_types.Name(id);
      }
      type = static_cast<int16_t>(last_type_id);
    }
    // Files are often grouped by user (MovieLens ratings.csv): remember the
    // previous line's ids to skip the hash lookups.
    if (user != last_user || last_user_id < 0) {
      last_user_id = log.users.GetOrAdd(user);
      last_user = user;
    }
    if (item != last_item || last_item_id < 0) {
      last_item_id = log.items.GetOrAdd(item);
      last_item = item;
    }
    log.Add(last_user_id, last_item_id, weight, ts, type);
    ++st.lines;
  }
  return log;
}

}  // namespace internal

absl::StatusOr<InteractionLog> ParseInteractions(std::string_view contents,
                                                 std::string_view name,
                                                 const LoadOptions& options,
                                                 LoadStats* stats) {
  return internal::ParseInteractions(contents, name, options, stats, /*fast_path=*/true);
}

std::string SkippedLinesWarning(const std::string& path, const LoadStats& stats) {
  if (stats.skipped_lines == 0) return "";
  return absl::StrCat(PathForMessage(path), ": skipped ", stats.skipped_lines,
                      " bad lines; first: ", stats.first_error);
}

absl::Status CheckHasInteractions(const InteractionLog& log, const std::string& path,
                                  const LoadStats& stats) {
  if (log.size() > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(PathForMessage(path), ": no interactions",
                   stats.had_header ? " (its one line was read as a header)" : ""));
}

absl::StatusOr<InteractionLog> LoadInteractions(const std::string& path,
                                                const LoadOptions& options,
                                                LoadStats* stats) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  return ParseInteractions(file->data(), path, options, stats);
}

absl::Status WriteInteractions(const std::string& path, const InteractionLog& log,
                               absl::Span<const int64_t> rows) {
  std::string out;
  out.reserve(rows.size() * 32 + 32);
  const bool typed = !log.event_type.empty();
  out.append(typed ? "user,item,weight,timestamp,event_type\n" : "user,item,weight,timestamp\n");
  char buf[64];
  for (int64_t r : rows) {
    out.append(log.users.Name(log.user[r]));
    out.push_back(',');
    out.append(log.items.Name(log.item[r]));
    out.push_back(',');
    auto res = std::to_chars(buf, buf + sizeof(buf), log.weight[r]);
    out.append(buf, res.ptr);
    out.push_back(',');
    res = std::to_chars(buf, buf + sizeof(buf), log.timestamp[r]);
    out.append(buf, res.ptr);
    if (typed) {
      out.push_back(',');
      out.append(log.EventTypeName(r));
    }
    out.push_back('\n');
  }
  return WriteFileAtomically(path, out);
}

absl::Status WriteInteractions(const std::string& path, const InteractionLog& log) {
  std::vector<int64_t> rows(log.size());
  for (int64_t i = 0; i < log.size(); ++i) rows[i] = i;
  return WriteInteractions(path, log, rows);
}

// ------------------------------------------------------------------ weighting

absl::StatusOr<std::vector<std::pair<std::string, float>>> ParseEventWeights(
    std::string_view list, std::string_view field_view) {
  const absl::string_view field = ToAbsl(field_view);
  std::vector<std::pair<std::string, float>> out;
  if (Trim(list).empty()) return out;
  for (absl::string_view part : absl::StrSplit(ToAbsl(list), ',')) {
    part = absl::StripAsciiWhitespace(part);
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": expected type=weight, got ", Quote(part)));
    }
    const absl::string_view name = absl::StripAsciiWhitespace(part.substr(0, eq));
    RETURN_IF_ERROR(ValidateName(name, absl::StrCat(field, " event type")));
    float w = 0;
    const absl::string_view value = absl::StripAsciiWhitespace(part.substr(eq + 1));
    if (!ParseFloat(std::string_view(value.data(), value.size()), &w) || !std::isfinite(w) ||
        w < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": the weight of ", Quote(name), " must be a finite number >= 0, got ",
          Quote(value)));
    }
    for (const auto& [seen, unused] : out) {
      if (seen == name) {
        return absl::InvalidArgumentError(
            absl::StrCat(field, ": event type ", Quote(name), " is given twice"));
      }
    }
    if (out.size() >= static_cast<size_t>(InteractionLog::kMaxEventTypes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": at most ", InteractionLog::kMaxEventTypes, " event types"));
    }
    out.emplace_back(std::string(name), w);
  }
  return out;
}

float RowWeight(float weight, float type_factor, const WeightingOptions& options) {
  const float w = weight * type_factor;
  return w <= 0 || w < options.min_weight ? 0.0f : w;
}

absl::StatusOr<WeightingStats> Reweight(const WeightingOptions& options, std::string_view source,
                                        InteractionLog* log) {
  WeightingStats stats;
  if (!std::isfinite(options.min_weight) || options.min_weight < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_weight must be a finite number >= 0, got ", options.min_weight));
  }
  // Each type's multiplier, by the log's type index (-1 rows: 1).
  std::vector<float> factor(log->event_types.size(), 1.0f);
  for (const auto& [name, w] : options.event_weights) {
    const int32_t t = log->event_types.Find(name);
    if (t < 0) {
      std::vector<std::string> have;
      for (int32_t i = 0; i < log->event_types.size() && i < 16; ++i) {
        have.push_back(log->event_types.Name(i));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "event type ", Quote(name), " has a weight but ", PathForMessage(ToAbsl(source)),
          have.empty() ? " has no event types (a fifth column)"
                       : absl::StrCat(" has only ", absl::StrJoin(have, ", "))));
    }
    factor[t] = w;
  }
  const bool typed = !log->event_type.empty();
  absl::flat_hash_set<uint64_t> pairs;
  int64_t out = 0;
  for (int64_t r = 0; r < log->size(); ++r) {
    float w = RowWeight(log->weight[r],
                        typed && log->event_type[r] >= 0 ? factor[log->event_type[r]] : 1.0f,
                        options);
    if (w == 0) {
      ++stats.dropped;
      continue;
    }
    if (options.binary) {
      const uint64_t key = (uint64_t{static_cast<uint32_t>(log->user[r])} << 32) |
                           static_cast<uint32_t>(log->item[r]);
      if (!pairs.insert(key).second) {
        ++stats.duplicates;
        continue;
      }
      w = 1.0f;
    }
    log->user[out] = log->user[r];
    log->item[out] = log->item[r];
    log->weight[out] = w;
    log->timestamp[out] = log->timestamp[r];
    if (typed) log->event_type[out] = log->event_type[r];
    ++out;
  }
  log->user.resize(out);
  log->item.resize(out);
  log->weight.resize(out);
  log->timestamp.resize(out);
  if (typed) log->event_type.resize(out);
  stats.kept = out;
  return stats;
}

// ------------------------------------------------------------------ CSR

bool CsrMatrix::Contains(int32_t r, int32_t c) const {
  auto row = RowIndices(r);
  return std::binary_search(row.begin(), row.end(), c);
}

CsrMatrix CsrMatrix::Transpose() const {
  CsrMatrix t;
  t.rows = cols;
  t.cols = rows;
  t.indptr.assign(static_cast<size_t>(cols) + 1, 0);
  for (int32_t c : indices) ++t.indptr[c + 1];
  for (int32_t c = 0; c < cols; ++c) t.indptr[c + 1] += t.indptr[c];
  t.indices.resize(indices.size());
  t.values.resize(values.size());
  std::vector<int64_t> next(t.indptr.begin(), t.indptr.end() - 1);
  // Rows ascending, so each transposed row's indices come out sorted.
  for (int32_t r = 0; r < rows; ++r) {
    for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
      const int64_t dst = next[indices[k]]++;
      t.indices[dst] = r;
      t.values[dst] = values[k];
    }
  }
  return t;
}

size_t CsrMatrix::MemoryBytes() const {
  return indptr.capacity() * sizeof(int64_t) + indices.capacity() * sizeof(int32_t) +
         values.capacity() * sizeof(float);
}

CsrMatrix Interactions::BuildCsr(int32_t rows, int32_t cols,
                                 absl::Span<const int32_t> r,
                                 absl::Span<const int32_t> c,
                                 absl::Span<const float> v) {
  const size_t n = r.size();
  // Pass 1: order entries by column (counting sort).
  std::vector<int64_t> col_start(static_cast<size_t>(cols) + 1, 0);
  for (int32_t ci : c) ++col_start[ci + 1];
  for (int32_t i = 0; i < cols; ++i) col_start[i + 1] += col_start[i];
  std::vector<int32_t> by_col(n);
  {
    std::vector<int64_t> next(col_start.begin(), col_start.end() - 1);
    for (size_t k = 0; k < n; ++k) by_col[next[c[k]]++] = static_cast<int32_t>(k);
  }
  // Pass 2: stable scatter into rows, so each row's columns come out sorted.
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.indptr.assign(static_cast<size_t>(rows) + 1, 0);
  for (int32_t ri : r) ++m.indptr[ri + 1];
  for (int32_t i = 0; i < rows; ++i) m.indptr[i + 1] += m.indptr[i];
  m.indices.resize(n);
  m.values.resize(n);
  {
    std::vector<int64_t> next(m.indptr.begin(), m.indptr.end() - 1);
    for (int32_t k : by_col) {
      const int64_t dst = next[r[k]]++;
      m.indices[dst] = c[k];
      m.values[dst] = v[k];
    }
  }
  // Pass 3: sum duplicates in place.
  int64_t out = 0;
  int64_t row_begin = 0;
  for (int32_t i = 0; i < rows; ++i) {
    const int64_t end = m.indptr[i + 1];
    const int64_t new_begin = out;
    for (int64_t k = row_begin; k < end; ++k) {
      if (out > new_begin && m.indices[out - 1] == m.indices[k]) {
        m.values[out - 1] += m.values[k];
      } else {
        m.indices[out] = m.indices[k];
        m.values[out] = m.values[k];
        ++out;
      }
    }
    row_begin = end;
    m.indptr[i + 1] = out;
  }
  m.indices.resize(out);
  m.values.resize(out);
  m.indices.shrink_to_fit();
  m.values.shrink_to_fit();
  return m;
}

Interactions Interactions::FromLog(const InteractionLog& log) {
  Interactions x;
  x.users_ = log.users;
  x.items_ = log.items;
  x.user_items_ = BuildCsr(log.users.size(), log.items.size(), log.user, log.item,
                           log.weight);
  x.item_users_ = x.user_items_.Transpose();
  return x;
}

Interactions Interactions::FromLogWithIds(const InteractionLog& log,
                                          const IdMap& users, const IdMap& items,
                                          int64_t* dropped) {
  std::vector<int32_t> r, c;
  std::vector<float> v;
  r.reserve(log.size());
  c.reserve(log.size());
  v.reserve(log.size());
  int64_t drop = 0;
  // Translate the log's dense ids to the fixed maps once per distinct id.
  std::vector<int32_t> user_map(log.users.size()), item_map(log.items.size());
  for (int32_t i = 0; i < log.users.size(); ++i) user_map[i] = users.Find(log.users.Name(i));
  for (int32_t i = 0; i < log.items.size(); ++i) item_map[i] = items.Find(log.items.Name(i));
  for (int64_t k = 0; k < log.size(); ++k) {
    const int32_t u = user_map[log.user[k]];
    const int32_t i = item_map[log.item[k]];
    if (u < 0 || i < 0) {
      ++drop;
      continue;
    }
    r.push_back(u);
    c.push_back(i);
    v.push_back(log.weight[k]);
  }
  if (dropped != nullptr) *dropped = drop;
  Interactions x;
  x.users_ = users;
  x.items_ = items;
  x.user_items_ = BuildCsr(users.size(), items.size(), r, c, v);
  x.item_users_ = x.user_items_.Transpose();
  return x;
}

size_t Interactions::MemoryBytes() const {
  return users_.MemoryBytes() + items_.MemoryBytes() + user_items_.MemoryBytes() +
         item_users_.MemoryBytes();
}

}  // namespace recbandit::ranking
