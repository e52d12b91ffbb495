// The one name rule for models, experiments, variants and deployments, the
// one way to quote caller input inside an error message (bounded, so an
// 8 KB field never becomes an 8 KB status message), and the one escaper of
// text put into HTML and SVG.
#ifndef RECBANDIT_PROTO_CORE_NAMES_H_
#define RECBANDIT_PROTO_CORE_NAMES_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace recbandit {

// Names are 1..kMaxNameBytes bytes of [A-Za-z0-9_.-] whose first character
// is a letter or digit: never "", ".", "..", "-flag" or a path.
inline constexpr size_t kMaxNameBytes = 64;

// Returns OK when `name` follows the name rule; INVALID_ARGUMENT naming
// `field` (e.g. "model_name", "variants[2].name") and the broken part
// otherwise.
absl::Status ValidateName(absl::string_view name, absl::string_view field);

// Returns `input` in single quotes for an error message: at most
// `max_bytes` bytes of it (then "...(N bytes)"), with control characters,
// quotes, backslashes and bytes that are not valid UTF-8 written as \xNN, so
// the message is short, valid UTF-8 and printable.
std::string Quote(absl::string_view input, size_t max_bytes = 64);

// Returns `path` as it is when it is valid UTF-8 without control characters
// and at most kMaxPathInMessage bytes (real paths read plainly), otherwise as
// Quote(path, kMaxPathInMessage) writes it.
inline constexpr size_t kMaxPathInMessage = 256;
std::string PathForMessage(absl::string_view path);

// Returns `text` unchanged when it is valid UTF-8 of at most `max_bytes`
// bytes; otherwise escaped as Quote does (without the quotes) and cut to
// `max_bytes` bytes of the input. The last guard before a message leaves the
// process (gRPC status, log line).
std::string BoundedMessage(absl::string_view text, size_t max_bytes = 1024);

// Returns whether `name` is a valid catalog numeric field name: 1..64 bytes
// of [A-Za-z_][A-Za-z0-9_]*, not a built-in field (ItemID, category, tag,
// created; any case). PutItems, filters and stored features apply it.
bool IsNumericFieldName(absl::string_view name);

// Returns true when `s` is valid UTF-8 (no overlong forms, no surrogates,
// at most U+10FFFF).
bool IsValidUtf8(absl::string_view s);

// Returns `text` safe as HTML/XML element content and as a quoted attribute
// value: & < > " ' become entities, bytes that are not valid UTF-8 become
// U+FFFD, control characters other than tab and newline are dropped. Every
// value the dashboard's pages and the SVG charts did not write themselves
// goes through it.
std::string HtmlEscape(absl::string_view text);

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_NAMES_H_
