// Factor files trained elsewhere: the .npy header parser (a bounded reader
// of the Python dict literal NumPy writes), the CSV matrix reader, id lists,
// and the checks that pair them.
#include "ranking/factor_import.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/core/file_util.h"
#include "proto/core/line_reader.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "proto/core/string_view.h"

namespace recbandit::ranking {
namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr size_t kNpyMagicBytes = 6;
constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr int64_t kMaxRows = std::numeric_limits<int32_t>::max();
// Nesting allowed in a header value (a structured dtype's list of tuples).
constexpr int kMaxHeaderDepth = 8;

absl::Status Invalid(absl::string_view name, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(PathForMessage(name), ": ", what));
}

// ---------------------------------------------------------------- .npy header

// A value of the header's Python literal: a string, an integer, a bare name
// (True, False, None) or a tuple / list of values. `raw` is its text.
struct PyValue {
  enum class Kind { kString, kInt, kName, kTuple, kList } kind = Kind::kName;
  absl::string_view raw;
  std::string text;        // kString: the content (escapes kept as written); kName
  uint64_t number = 0;     // kInt: the magnitude
  bool negative = false;   // kInt
  bool overflow = false;   // kInt: beyond uint64
  std::vector<PyValue> items;  // kTuple, kList
};

// A recursive-descent reader of the literal subset NumPy's headers use
// (`{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`). Every
// step consumes input and nesting is bounded, so any input ends quickly.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  // Returns the dict's (key, value) pairs in order.
  absl::StatusOr<std::vector<std::pair<std::string, PyValue>>> ParseDict() {
    std::vector<std::pair<std::string, PyValue>> out;
    SkipSpace();
    if (!Consume('{')) return Error("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      ASSIGN_OR_RETURN(PyValue key, ParseValue(1));
      if (key.kind != PyValue::Kind::kString) return Error("a key that is not a string");
      SkipSpace();
      if (!Consume(':')) return Error("expected ':'");
      ASSIGN_OR_RETURN(PyValue value, ParseValue(1));
      out.emplace_back(key.text, std::move(value));
      SkipSpace();
      if (Consume('}')) break;
      if (!Consume(',')) return Error("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("text after the closing '}'");
    return out;
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("not a valid header dict (", what,
                                                   " at byte ", pos_, ")"));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  absl::StatusOr<PyValue> ParseValue(int depth) {
    if (depth > kMaxHeaderDepth) return Error("values nested too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end");
    const size_t start = pos_;
    PyValue v;
    const char c = text_[pos_];
    if (c == '\'' || c == '"') {
      v.kind = PyValue::Kind::kString;
      ++pos_;
      while (pos_ < text_.size() && text_[pos_] != c) {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) v.text.push_back(text_[pos_++]);
        v.text.push_back(text_[pos_++]);
      }
      if (!Consume(c)) return Error("an unterminated string");
    } else if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      v.kind = c == '(' ? PyValue::Kind::kTuple : PyValue::Kind::kList;
      ++pos_;
      while (true) {
        SkipSpace();
        if (Consume(close)) break;
        ASSIGN_OR_RETURN(PyValue item, ParseValue(depth + 1));
        v.items.push_back(std::move(item));
        SkipSpace();
        if (Consume(close)) break;
        if (!Consume(',')) {
          return Error(absl::StrCat("expected ',' or '", std::string(1, close), "'"));
        }
      }
    } else if (c == '-' || absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      v.kind = PyValue::Kind::kInt;
      v.negative = Consume('-');
      if (pos_ >= text_.size() || !absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
        return Error("a '-' without digits");
      }
      while (pos_ < text_.size() && absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
        const uint64_t digit = static_cast<uint64_t>(text_[pos_++] - '0');
        if (v.number > (std::numeric_limits<uint64_t>::max() - digit) / 10) v.overflow = true;
        if (!v.overflow) v.number = v.number * 10 + digit;
      }
      Consume('L');  // Python 2's long integers, in headers written by NumPy under Python 2
    } else if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_') {
      v.kind = PyValue::Kind::kName;
      while (pos_ < text_.size() && (absl::ascii_isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                     text_[pos_] == '_')) {
        v.text.push_back(text_[pos_++]);
      }
    } else {
      return Error(absl::StrCat("unexpected character ", Quote(text_.substr(pos_, 1))));
    }
    v.raw = text_.substr(start, pos_ - start);
    return v;
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

// What the header says about the array.
struct NpyLayout {
  size_t item_bytes = 0;  // 4 ('<f4') or 8 ('<f8')
  std::string descr;
  uint64_t rows = 0;
  uint64_t cols = 0;
};

absl::StatusOr<NpyLayout> ReadHeader(absl::string_view header, absl::string_view name) {
  HeaderParser parser(header);
  absl::StatusOr<std::vector<std::pair<std::string, PyValue>>> dict = parser.ParseDict();
  if (!dict.ok()) return Invalid(name, absl::StrCat("header: ", dict.status().message()));
  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape = nullptr;
  for (const auto& [key, value] : *dict) {
    const PyValue** slot = key == "descr"           ? &descr
                           : key == "fortran_order" ? &fortran
                           : key == "shape"         ? &shape
                                                    : nullptr;
    if (slot == nullptr) {
      return Invalid(name, absl::StrCat("header has an unknown field ", Quote(key),
                                        " (a .npy header has descr, fortran_order, shape)"));
    }
    if (*slot != nullptr) return Invalid(name, absl::StrCat("header repeats ", Quote(key)));
    *slot = &value;
  }
  for (const auto& [field, value] : {std::make_pair("descr", descr),
                                     std::make_pair("fortran_order", fortran),
                                     std::make_pair("shape", shape)}) {
    if (value == nullptr) return Invalid(name, absl::StrCat("header has no '", field, "' field"));
  }

  NpyLayout layout;
  // descr: the dtype.
  if (descr->kind != PyValue::Kind::kString) {
    return Invalid(name, absl::StrCat("header field 'descr' is ", Quote(descr->raw),
                                      ", a structured dtype; only '<f4' and '<f8' are read"));
  }
  layout.descr = descr->text;
  const std::string& d = descr->text;
  if (d == "<f4" || d == "<f8") {
    layout.item_bytes = d == "<f4" ? 4 : 8;
  } else if (d == ">f4" || d == ">f8") {
    return Invalid(name, absl::StrCat("header field 'descr' is ", Quote(d),
                                      ", big-endian; only little-endian '<f4' and '<f8' are read "
                                      "(save arr.astype('<f4'))"));
  } else if (absl::StrContains(d, "O")) {
    return Invalid(name, absl::StrCat("header field 'descr' is ", Quote(d),
                                      ", an object array; only '<f4' and '<f8' are read"));
  } else {
    return Invalid(name, absl::StrCat("header field 'descr' is ", Quote(d),
                                      ", not a supported dtype; only '<f4' (float32) and '<f8' "
                                      "(float64) are read"));
  }
  // fortran_order: C order only.
  if (fortran->kind != PyValue::Kind::kName ||
      (fortran->text != "True" && fortran->text != "False")) {
    return Invalid(name, absl::StrCat("header field 'fortran_order' is ", Quote(fortran->raw),
                                      ", not True or False"));
  }
  if (fortran->text == "True") {
    return Invalid(name, "header field 'fortran_order' is True: Fortran (column-major) order "
                         "is not read; save a C-order array (np.ascontiguousarray)");
  }
  // shape: (rows, cols).
  if (shape->kind != PyValue::Kind::kTuple) {
    return Invalid(name, absl::StrCat("header field 'shape' is ", Quote(shape->raw),
                                      ", not a tuple"));
  }
  for (const PyValue& dim : shape->items) {
    if (dim.kind != PyValue::Kind::kInt || dim.negative || dim.overflow) {
      return Invalid(name, absl::StrCat("header field 'shape' is ", Quote(shape->raw),
                                        ": ", Quote(dim.raw), " is not a dimension"));
    }
  }
  if (shape->items.size() != 2) {
    return Invalid(name, absl::StrCat("header field 'shape' is ", Quote(shape->raw), ", a ",
                                      shape->items.size(),
                                      "-D array; factors must be 2-D (rows x factors)"));
  }
  layout.rows = shape->items[0].number;
  layout.cols = shape->items[1].number;
  if (layout.cols < 1 || layout.cols > static_cast<uint64_t>(kMaxImportFactors)) {
    return Invalid(name, absl::StrCat("header field 'shape' is ", Quote(shape->raw), ": ",
                                      layout.cols, " factors (columns) is out of range (1..",
                                      kMaxImportFactors, ")"));
  }
  if (layout.rows < 1 || layout.rows > static_cast<uint64_t>(kMaxRows)) {
    return Invalid(name, absl::StrCat("header field 'shape' is ", Quote(shape->raw), ": ",
                                      layout.rows, " rows is out of range (1..", kMaxRows, ")"));
  }
  return layout;
}

// Returns the little-endian unsigned integer of `bytes` (at most 8) bytes.
uint64_t LittleEndian(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string NotFinite(absl::string_view name, int64_t row, int64_t col, double value) {
  return absl::StrCat(PathForMessage(name), ": row ", row, " (0-based), column ", col, ": ",
                      value, " is not a finite number");
}

// ---------------------------------------------------------------- CSV

absl::string_view TrimSpaces(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses `field` as a float32 into *out; returns "" or what is wrong.
std::string ParseFactor(absl::string_view field, float* out) {
  absl::string_view s = TrimSpaces(field);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return "is empty";
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc::result_out_of_range) {
    // Out of range both ways: below float32's smallest subnormal the value
    // rounds to zero (as NumPy's astype does); above its largest it is refused.
    double wide = 0;
    const auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), wide);
    const bool tiny = ec2 == std::errc() ? std::fabs(wide) < 1
                                         : absl::StrContains(absl::AsciiStrToLower(s), "e-");
    if (!tiny) return "is beyond float32's range";
    *out = s.front() == '-' ? -0.0f : 0.0f;
    return "";
  }
  if (ec != std::errc() || ptr != s.data() + s.size()) return "is not a number";
  if (!std::isfinite(*out)) return "is not a finite number";
  return "";
}

}  // namespace

absl::StatusOr<FactorMatrix> ParseNpyMatrix(absl::string_view bytes, absl::string_view name) {
  const size_t prefix = std::min(bytes.size(), kNpyMagicBytes);
  // (memcmp is never given a null pointer, not even for 0 bytes.)
  const bool magic = prefix == 0 || std::memcmp(bytes.data(), kNpyMagic, prefix) == 0;
  if (magic && bytes.size() < kNpyMagicBytes + 2) {
    return Invalid(name, absl::StrCat("truncated .npy file: ", bytes.size(),
                                      " bytes, no format version"));
  }
  if (!magic) {
    return Invalid(name, absl::StrCat("not a NumPy .npy file (bad magic: it starts with ",
                                      Quote(bytes.substr(0, kNpyMagicBytes)),
                                      ", not '\\x93NUMPY')"));
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    return Invalid(name, absl::StrCat(".npy format version ", major, ".", minor,
                                      " is not supported (1.0, 2.0 or 3.0)"));
  }
  const int length_bytes = major == 1 ? 2 : 4;
  const size_t preamble = kNpyMagicBytes + 2 + length_bytes;
  if (bytes.size() < preamble) {
    return Invalid(name, absl::StrCat("truncated .npy file: ", bytes.size(),
                                      " bytes, no header length"));
  }
  const uint64_t header_bytes = LittleEndian(bytes.data() + 8, length_bytes);
  if (header_bytes > bytes.size() - preamble) {
    return Invalid(name, absl::StrCat("header length ", header_bytes,
                                      " runs past the end of the file (", bytes.size(),
                                      " bytes): truncated or not a .npy file"));
  }
  if (header_bytes > kMaxNpyHeaderBytes) {
    return Invalid(name, absl::StrCat("header length ", header_bytes, " is above the ",
                                      kMaxNpyHeaderBytes, " bytes read"));
  }
  const absl::string_view header = bytes.substr(preamble, header_bytes);
  if (major < 3) {  // latin-1 in 1.0 and 2.0, where NumPy writes ASCII
    for (const char c : header) {
      if (static_cast<unsigned char>(c) >= 0x80) return Invalid(name, "header is not ASCII text");
    }
  }
  if (major == 3 && !IsValidUtf8(header)) return Invalid(name, "header is not valid UTF-8");
  ASSIGN_OR_RETURN(const NpyLayout layout, ReadHeader(header, name));

  // rows <= 2^31 - 1, cols <= 1024, item_bytes <= 8: the product fits easily.
  const uint64_t count = layout.rows * layout.cols;
  const uint64_t need = count * layout.item_bytes;
  const uint64_t have = bytes.size() - preamble - header_bytes;
  if (have != need) {
    return Invalid(name, absl::StrCat(have < need ? "truncated: " : "size mismatch: ",
                                      "the data is ", have, " bytes, header field 'shape' (", layout.rows, ", ",
                                      layout.cols, ") of ", Quote(layout.descr), " needs ",
                                      need));
  }
  // Only now, with the size checked against the real file, is memory taken.
  const char* data = bytes.data() + preamble + header_bytes;
  FactorMatrix m;
  m.rows = static_cast<int64_t>(layout.rows);
  m.cols = static_cast<int32_t>(layout.cols);
  m.format = absl::StrCat("npy ", layout.descr);
  m.values.resize(count);
  if (layout.item_bytes == 4) {
    std::memcpy(m.values.data(), data, need);  // x86-64 is little-endian, as '<f4'
    for (uint64_t k = 0; k < count; ++k) {
      if (!std::isfinite(m.values[k])) {
        return absl::InvalidArgumentError(
            NotFinite(name, static_cast<int64_t>(k / layout.cols),
                      static_cast<int64_t>(k % layout.cols), m.values[k]));
      }
    }
  } else {
    for (uint64_t k = 0; k < count; ++k) {
      double v;
      std::memcpy(&v, data + k * 8, 8);
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(NotFinite(
            name, static_cast<int64_t>(k / layout.cols), static_cast<int64_t>(k % layout.cols), v));
      }
      if (std::fabs(v) > std::numeric_limits<float>::max()) {
        return Invalid(name, absl::StrCat("row ", k / layout.cols, " (0-based), column ",
                                          k % layout.cols, ": ", v,
                                          " is beyond float32's range"));
      }
      m.values[k] = static_cast<float>(v);
    }
  }
  m.crc32c = Crc32c(ToStd(bytes));
  return m;
}

absl::StatusOr<FactorMatrix> ParseCsvMatrix(absl::string_view text, absl::string_view name) {
  FactorMatrix m;
  m.format = "csv";
  m.crc32c = Crc32c(ToStd(text));
  if (absl::StartsWith(text, kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  LineReader lines(ToStd(text));
  std::string_view line;
  while (lines.Next(&line)) {
    const int64_t line_no = lines.line_number();
    const auto at = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(PathForMessage(name), ":", line_no, ": ", what));
    };
    if (TrimSpaces(ToAbsl(line)).empty()) {
      return at("empty line (one row of comma-separated factors per id)");
    }
    int32_t col = 0;
    size_t start = 0;
    while (true) {
      const size_t comma = line.find(',', start);
      const std::string_view field =
          line.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                             : comma - start);
      if (col >= kMaxImportFactors) {
        return at(absl::StrCat("more than ", kMaxImportFactors, " values (factors are 1..",
                               kMaxImportFactors, ")"));
      }
      float v;
      const std::string problem = ParseFactor(ToAbsl(field), &v);
      if (!problem.empty()) {
        std::string hint;
        if (problem == "is not a number" && m.rows == 0 && col == 0) {
          hint = " (a factor CSV has no header and no id column: ids go in the id file)";
        }
        return at(absl::StrCat("value ", col + 1, " ", Quote(TrimSpaces(ToAbsl(field))), " ",
                               problem, hint));
      }
      m.values.push_back(v);
      ++col;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (m.rows == 0) {
      m.cols = col;
    } else if (col != m.cols) {
      return at(absl::StrCat("expected ", m.cols, " values (as line 1), got ", col));
    }
    ++m.rows;
    if (m.rows > kMaxRows) return at(absl::StrCat("more than ", kMaxRows, " rows"));
  }
  if (m.rows == 0) return Invalid(name, "no rows (an empty factor file)");
  return m;
}

absl::StatusOr<FactorMatrix> ReadFactorMatrix(const std::string& path) {
  ASSIGN_OR_RETURN(const std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  const absl::string_view bytes = ToAbsl(file->data());
  const bool npy = absl::EndsWithIgnoreCase(path, ".npy") ||
                   (bytes.size() >= kNpyMagicBytes &&
                    std::memcmp(bytes.data(), kNpyMagic, kNpyMagicBytes) == 0);
  return npy ? ParseNpyMatrix(bytes, path) : ParseCsvMatrix(bytes, path);
}

absl::StatusOr<IdMap> ParseIdList(absl::string_view text, absl::string_view name,
                                  absl::string_view what) {
  if (absl::StartsWith(text, kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  IdMap ids;
  LineReader lines(ToStd(text));
  std::string_view line;
  while (lines.Next(&line)) {
    const int64_t line_no = lines.line_number();
    const absl::string_view id = ToAbsl(line);
    const auto at = [&](absl::string_view problem) {
      return absl::InvalidArgumentError(
          absl::StrCat(PathForMessage(name), ":", line_no, ": ", problem));
    };
    if (id.empty()) return at(absl::StrCat("empty ", what, " id (one id per line)"));
    if (id.size() > kMaxImportIdBytes) {
      return at(absl::StrCat(what, " id ", Quote(id), " is longer than ", kMaxImportIdBytes,
                             " bytes"));
    }
    if (!IsValidUtf8(id)) return at(absl::StrCat(what, " id ", Quote(id), " is not valid UTF-8"));
    for (const char c : id) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return at(absl::StrCat(what, " id ", Quote(id), " holds a control character"));
      }
    }
    if (ids.size() >= kMaxRows) return at(absl::StrCat("more than ", kMaxRows, " ids"));
    const int32_t before = ids.size();
    const int32_t dense = ids.GetOrAdd(ToStd(id));
    if (ids.size() == before) {
      return at(absl::StrCat("duplicate ", what, " id ", Quote(id), " (first on line ",
                             int64_t{dense} + 1, ")"));
    }
  }
  if (ids.size() == 0) return Invalid(name, absl::StrCat("no ", what, " ids (an empty file)"));
  return ids;
}

absl::StatusOr<ImportedFactors> ImportFactors(const ImportInputs& inputs) {
  ImportedFactors out;
  ImportSource& source = out.source;
  source.set_user_factors(inputs.user_factors);
  source.set_item_factors(inputs.item_factors);
  source.set_user_ids(inputs.user_ids);
  source.set_item_ids(inputs.item_ids);
  const auto read_ids = [](const std::string& path, absl::string_view what,
                           uint32_t* crc) -> absl::StatusOr<IdMap> {
    ASSIGN_OR_RETURN(const std::unique_ptr<MappedFile> file, MappedFile::Open(path));
    *crc = Crc32c(file->data());
    return ParseIdList(ToAbsl(file->data()), path, what);
  };
  uint32_t crc = 0;
  ASSIGN_OR_RETURN(out.users, read_ids(inputs.user_ids, "user", &crc));
  source.set_user_ids_crc32c(crc);
  ASSIGN_OR_RETURN(out.items, read_ids(inputs.item_ids, "item", &crc));
  source.set_item_ids_crc32c(crc);

  ASSIGN_OR_RETURN(FactorMatrix users, ReadFactorMatrix(inputs.user_factors));
  if (users.rows != out.users.size()) {
    return Invalid(inputs.user_factors,
                   absl::StrCat(users.rows, " rows, but ", PathForMessage(inputs.user_ids),
                                " has ", out.users.size(), " user ids (one row per id)"));
  }
  ASSIGN_OR_RETURN(FactorMatrix items, ReadFactorMatrix(inputs.item_factors));
  if (items.rows != out.items.size()) {
    return Invalid(inputs.item_factors,
                   absl::StrCat(items.rows, " rows, but ", PathForMessage(inputs.item_ids),
                                " has ", out.items.size(), " item ids (one row per id)"));
  }
  if (users.cols != items.cols) {
    return Invalid(inputs.item_factors,
                   absl::StrCat(items.cols, " factors (columns), but ",
                                PathForMessage(inputs.user_factors), " has ", users.cols,
                                ": user and item factors must have the same dimension"));
  }
  out.factors = users.cols;
  source.set_user_factors_format(users.format);
  source.set_item_factors_format(items.format);
  source.set_user_factors_crc32c(users.crc32c);
  source.set_item_factors_crc32c(items.crc32c);
  out.user_factors = std::move(users.values);
  out.item_factors = std::move(items.values);
  return out;
}

}  // namespace recbandit::ranking
