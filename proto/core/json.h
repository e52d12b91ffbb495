// Compact JSON for report messages (the CLI's one line on stdout): proto field
// names, every field printed (defaults included), 64-bit integers as numbers.
#ifndef RECBANDIT_PROTO_CORE_JSON_H_
#define RECBANDIT_PROTO_CORE_JSON_H_

#include <string>

#include "absl/strings/string_view.h"

#include "google/protobuf/message.h"

namespace recbandit {

// Returns `message` as one line of JSON. Unlike protobuf's JsonPrinter, int64
// values are numbers (not strings), so `json.loads(line)["n"]` is an int.
// Non-finite doubles print as null. Enums print as their names.
std::string ToJson(const google::protobuf::Message& message);

// Appends `s` to `out` as a quoted, escaped JSON string.
void AppendJsonString(absl::string_view s, std::string* out);

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_JSON_H_
