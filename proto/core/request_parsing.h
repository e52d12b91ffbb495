// How gRPC parses our requests: as it always does, but a request that fails
// to parse gets INVALID_ARGUMENT naming the string field that holds invalid
// UTF-8 (proto3 refuses such strings), instead of gRPC's INTERNAL with an
// empty message. Force-included (-include) into the generated gRPC sources
// and included first by the server, so every handler of ours sees it.
#ifndef RECBANDIT_PROTO_CORE_REQUEST_PARSING_H_
#define RECBANDIT_PROTO_CORE_REQUEST_PARSING_H_

#include <string>

#include <grpcpp/impl/codegen/proto_utils.h>

#include "google/protobuf/message_lite.h"

namespace recbandit {

// Returns the status for `message`'s type failing to parse `wire`: the path
// of the first string field that is not valid UTF-8 (e.g.
// "events[2].user"), or the message type. INVALID_ARGUMENT either way.
grpc::Status UnparsableRequest(const google::protobuf::MessageLite& message,
                               const std::string& wire);

// gRPC's callback handlers answer UNIMPLEMENTED, with no message, to any
// request that fails to parse, whatever status the parser gave. So for them
// a failed parse leaves an empty message carrying the reason (in an unknown
// field no message of ours uses), and the handler asks for it first.
void MarkUnparsable(google::protobuf::MessageLite* message, const grpc::Status& why);
// Returns the reason MarkUnparsable stored, or "" for a request that parsed.
std::string UnparsableReason(const google::protobuf::MessageLite& message);

}  // namespace recbandit

namespace grpc {

// The generated services parse every request through this specialization
// (their handlers name MessageLite as the base request type).
template <>
class SerializationTraits<protobuf::MessageLite, void> {
 public:
  static Status Serialize(const protobuf::MessageLite& msg, ByteBuffer* bb, bool* own_buffer) {
    return GenericSerialize<ProtoBufferWriter, protobuf::MessageLite>(msg, bb, own_buffer);
  }
  static Status Deserialize(ByteBuffer* buffer, protobuf::MessageLite* msg) {
    ByteBuffer copy(*buffer);  // shares the slices; read again only on failure
    Status status = GenericDeserialize<ProtoBufferReader, protobuf::MessageLite>(buffer, msg);
    if (status.ok() || status.error_code() != StatusCode::INTERNAL) return status;
    std::vector<Slice> slices;
    std::string wire;
    if (copy.Dump(&slices).ok()) {
      for (const Slice& s : slices) wire.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return recbandit::UnparsableRequest(*msg, wire);
  }
};

}  // namespace grpc

// Streaming handlers parse through SerializationTraits<T> of their concrete
// request type: RECBANDIT_DIAGNOSED_STREAM_REQUEST(T) routes it here.
#define RECBANDIT_DIAGNOSED_STREAM_REQUEST(T)                                       \
  namespace grpc {                                                                  \
  template <>                                                                       \
  class SerializationTraits<T, void>                                                \
      : public SerializationTraits<protobuf::MessageLite, void> {};                 \
  }  // namespace grpc

// Callback handlers too, but they answer UNIMPLEMENTED to any failed parse:
// RECBANDIT_DIAGNOSED_REQUEST(recbandit::RecommendRequest) at namespace
// scope, before the handler is instantiated, makes a request that fails to
// parse arrive marked instead (see MarkUnparsable).
#define RECBANDIT_DIAGNOSED_REQUEST(T)                                              \
  namespace grpc {                                                                  \
  template <>                                                                       \
  class SerializationTraits<T, void> {                                              \
   public:                                                                          \
    static Status Serialize(const protobuf::MessageLite& msg, ByteBuffer* bb,       \
                            bool* own_buffer) {                                     \
      return SerializationTraits<protobuf::MessageLite, void>::Serialize(msg, bb,   \
                                                                         own_buffer); \
    }                                                                               \
    static Status Deserialize(ByteBuffer* buffer, protobuf::MessageLite* msg) {     \
      Status s = SerializationTraits<protobuf::MessageLite, void>::Deserialize(buffer, msg); \
      if (s.error_code() == StatusCode::INVALID_ARGUMENT) {                         \
        recbandit::MarkUnparsable(msg, s);                                          \
        return Status::OK;                                                          \
      }                                                                             \
      return s;                                                                     \
    }                                                                               \
  };                                                                                \
  }  // namespace grpc

#endif  // RECBANDIT_PROTO_CORE_REQUEST_PARSING_H_
