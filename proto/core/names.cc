// ValidateName, Quote, IsValidUtf8 and HtmlEscape.
#include "proto/core/names.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace recbandit {
namespace {

// Returns the length of the valid UTF-8 sequence starting at s[i], or 0.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto byte = [&](size_t j) { return static_cast<unsigned char>(s[j]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;            // no overlong forms
    if (c == 0xed) hi = 0x9f;            // no surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;            // no overlong forms
    if (c == 0xf4) hi = 0x8f;            // at most U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t j = 2; j < len; ++j) {
    if ((byte(i + j) & 0xc0) != 0x80) return 0;
  }
  return len;
}

// Appends at most `max_bytes` bytes of `input` to *out, escaped (see Quote;
// `escape_quotes` adds ' and \\), then "...(N bytes)" when it was cut.
void AppendEscaped(absl::string_view input, size_t max_bytes, bool escape_quotes,
                   std::string* out, std::string* suffix) {
  size_t i = 0;
  while (i < input.size() && i < max_bytes) {
    const size_t len = Utf8SequenceLength(input, i);
    const unsigned char c = static_cast<unsigned char>(input[i]);
    const bool control = len == 1 && (c < 0x20 || c == 0x7f) && (escape_quotes || c != '\n');
    if (len == 0 || control || (len == 1 && escape_quotes && (c == '\'' || c == '\\'))) {
      absl::StrAppendFormat(out, "\\x%02x", c);
      ++i;
    } else if (i + len > max_bytes) {
      break;  // never cut a character in half
    } else {
      out->append(input.data() + i, len);
      i += len;
    }
  }
  if (i < input.size()) *suffix = absl::StrCat("...(", input.size(), " bytes)");
}

}  // namespace

absl::Status ValidateName(absl::string_view name, absl::string_view field) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must have 1..", kMaxNameBytes,
                                                   " characters, got ", name.size()));
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name[0]))) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " ", Quote(name), " must start with a letter or digit"));
  }
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
          c == '-')) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " ", Quote(name), " may only contain [A-Za-z0-9_.-]"));
    }
  }
  return absl::OkStatus();
}

std::string Quote(absl::string_view input, size_t max_bytes) {
  std::string out = "'", suffix;
  AppendEscaped(input, max_bytes, /*escape_quotes=*/true, &out, &suffix);
  out.push_back('\'');
  return out + suffix;
}

std::string PathForMessage(absl::string_view path) {
  const bool plain = path.size() <= kMaxPathInMessage && IsValidUtf8(path) &&
                     std::none_of(path.begin(), path.end(), [](char c) {
                       return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
                     });
  return plain ? std::string(path) : Quote(path, kMaxPathInMessage);
}

std::string BoundedMessage(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes && IsValidUtf8(text)) return std::string(text);
  std::string out, suffix;
  AppendEscaped(text, max_bytes, /*escape_quotes=*/false, &out, &suffix);
  return out + suffix;
}

bool IsValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = Utf8SequenceLength(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out.append("\xef\xbf\xbd");  // U+FFFD
      ++i;
      continue;
    }
    if (len > 1) {
      out.append(text.data() + i, len);
      i += len;
      continue;
    }
    const char c = text[i++];
    switch (c) {
      case '&': out.append("&amp;"); break;
      case '<': out.append("&lt;"); break;
      case '>': out.append("&gt;"); break;
      case '"': out.append("&quot;"); break;
      case '\'': out.append("&#39;"); break;
      default:
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') || c == 0x7f) break;
        out.push_back(c);
    }
  }
  return out;
}

bool IsNumericFieldName(absl::string_view name) {
  const auto word_start = [](char c) { return absl::ascii_isalpha(c) || c == '_'; };
  const auto word_char = [](char c) { return absl::ascii_isalnum(c) || c == '_'; };
  if (name.empty() || name.size() > 64 || !word_start(name[0])) return false;
  for (char c : name) {
    if (!word_char(c)) return false;
  }
  for (const char* builtin : {"itemid", "category", "tag", "created"}) {
    if (absl::EqualsIgnoreCase(name, builtin)) return false;
  }
  return true;
}

}  // namespace recbandit
