// UnparsableRequest: walks the wire format of a request that failed to parse
// and names the string field whose bytes are not valid UTF-8.
#include "proto/core/request_parsing.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/wire_format_lite.h"
#include "proto/core/names.h"

namespace recbandit {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::internal::WireFormatLite;

constexpr int kMaxDepth = 32;
// The largest field number protobuf allows: no message of ours uses it.
constexpr int kReasonField = 536870911;

// Returns the path of the first string field in `wire` (a message of type
// `type`) that is not valid UTF-8, or "" when there is none or the bytes do
// not even parse as wire format.
std::string FindInvalidUtf8(const Descriptor& type, const std::string& wire, int depth) {
  if (depth > kMaxDepth) return "";
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(wire.data()),
                                            static_cast<int>(wire.size()));
  std::map<int, int> seen;  // field number -> occurrences so far (repeated index)
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return "";
    const int number = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
    const FieldDescriptor* field = type.FindFieldByNumber(number);
    if (field == nullptr ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        (field->type() != FieldDescriptor::TYPE_STRING &&
         field->type() != FieldDescriptor::TYPE_MESSAGE)) {
      if (!WireFormatLite::SkipField(&in, tag)) return "";
      if (field != nullptr) ++seen[number];
      continue;
    }
    uint32_t length = 0;
    std::string bytes;
    if (!in.ReadVarint32(&length) || !in.ReadString(&bytes, static_cast<int>(length))) return "";
    const int index = seen[number]++;
    std::string name = field->name();
    if (field->is_repeated()) absl::StrAppend(&name, "[", index, "]");
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (!IsValidUtf8(bytes)) return name;
    } else if (!field->is_map()) {
      const std::string inner = FindInvalidUtf8(*field->message_type(), bytes, depth + 1);
      if (!inner.empty()) return absl::StrCat(name, ".", inner);
    } else {
      const std::string inner = FindInvalidUtf8(*field->message_type(), bytes, depth + 1);
      if (!inner.empty()) return absl::StrCat(field->name(), " (a ", inner, ")");
    }
  }
}

}  // namespace

grpc::Status UnparsableRequest(const google::protobuf::MessageLite& message,
                               const std::string& wire) {
  const auto* full = dynamic_cast<const google::protobuf::Message*>(&message);
  if (full != nullptr) {
    const std::string path = FindInvalidUtf8(*full->GetDescriptor(), wire, 0);
    if (!path.empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat(path, " is not valid UTF-8 (", message.GetTypeName(),
                                       "): string fields must be UTF-8; send bytes as base64"));
    }
  }
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("the request is not a valid ", message.GetTypeName(),
                                   " message (", wire.size(), " bytes)"));
}

void MarkUnparsable(google::protobuf::MessageLite* message, const grpc::Status& why) {
  message->Clear();
  auto* full = dynamic_cast<google::protobuf::Message*>(message);
  if (full == nullptr) return;
  full->GetReflection()->MutableUnknownFields(full)->AddLengthDelimited(
      kReasonField, why.error_message().empty() ? "unparsable request" : why.error_message());
}

std::string UnparsableReason(const google::protobuf::MessageLite& message) {
  const auto* full = dynamic_cast<const google::protobuf::Message*>(&message);
  if (full == nullptr) return "";
  const google::protobuf::UnknownFieldSet& unknown =
      full->GetReflection()->GetUnknownFields(*full);
  for (int i = 0; i < unknown.field_count(); ++i) {
    if (unknown.field(i).number() == kReasonField &&
        unknown.field(i).type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      return unknown.field(i).length_delimited();
    }
  }
  return "";
}

}  // namespace recbandit
