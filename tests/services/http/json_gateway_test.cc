// JsonGateway: the gRPC -> HTTP status table, the error body, and routing
// against an in-process gRPC server whose Recommender implements none of its
// rpcs (every routed call answers UNIMPLEMENTED -> 501 through the real
// forwarding path; Experiments is not registered at all: also UNIMPLEMENTED).
#include "services/http/json_gateway.h"

#include <httplib.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <grpcpp/health_check_service_interface.h>

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/core/names.h"
#include "proto/recommender.grpc.pb.h"

namespace recbandit::services {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

TEST(HttpStatusFromCodeTest, MapsAsGrpcGatewayDoes) {
  const std::pair<absl::StatusCode, int> kTable[] = {
      {absl::StatusCode::kOk, 200},
      {absl::StatusCode::kCancelled, 499},
      {absl::StatusCode::kUnknown, 500},
      {absl::StatusCode::kInvalidArgument, 400},
      {absl::StatusCode::kDeadlineExceeded, 504},
      {absl::StatusCode::kNotFound, 404},
      {absl::StatusCode::kAlreadyExists, 409},
      {absl::StatusCode::kPermissionDenied, 403},
      {absl::StatusCode::kResourceExhausted, 429},
      {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kOutOfRange, 400},
      {absl::StatusCode::kUnimplemented, 501},
      {absl::StatusCode::kInternal, 500},
      {absl::StatusCode::kUnavailable, 503},
      {absl::StatusCode::kDataLoss, 500},
      {absl::StatusCode::kUnauthenticated, 401},
  };
  for (const auto& [code, http] : kTable) {
    EXPECT_EQ(HttpStatusFromCode(code), http) << absl::StatusCodeToString(code);
  }
  EXPECT_EQ(HttpStatusFromCode(static_cast<absl::StatusCode>(99)), 500);
}

// Returns `json` parsed as a google.protobuf.Struct (a JSON object).
google::protobuf::Struct ParseObject(const std::string& json) {
  google::protobuf::Struct object;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &object).ok()) << json;
  return object;
}

TEST(JsonErrorBodyTest, IsCodeAndBoundedValidMessage) {
  google::protobuf::Struct body =
      ParseObject(JsonErrorBody(absl::NotFoundError("unknown model 'a\"b'")));
  ASSERT_EQ(body.fields().size(), 2);
  EXPECT_EQ(body.fields().at("code").number_value(), 5);
  EXPECT_EQ(body.fields().at("message").string_value(), "unknown model 'a\"b'");

  const std::string huge(100000, '\xff');
  const std::string json = JsonErrorBody(absl::InvalidArgumentError(huge));
  EXPECT_LT(json.size(), 8000u);  // 1 KB of input, each byte escaped as \xNN
  EXPECT_TRUE(IsValidUtf8(json));
  EXPECT_EQ(ParseObject(json).fields().at("code").number_value(), 3);
}

class JsonGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);  // as `recbandit serve` (JsonGateway's REQUIRES)
    grpc::ServerBuilder builder;
    builder.RegisterService(&unimplemented_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    JsonGatewayOptions options;
    options.services = {"recbandit.Recommender"};
    options.max_body_bytes = 1024;
    options.threads = 2;
    auto gateway = JsonGateway::Start(options, server_->InProcessChannel(grpc::ChannelArguments()));
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = std::move(*gateway);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", gateway_->port());
    client_->set_read_timeout(30, 0);
  }

  void TearDown() override {
    if (gateway_ != nullptr) gateway_->Stop();
    if (server_ != nullptr) server_->Shutdown();
    if (gateway_ != nullptr) gateway_->Wait();
  }

  // Returns the status and asserts a JSON error body with `code`.
  int Post(const std::string& path, const std::string& body, int code) {
    httplib::Result res = client_->Post(path.c_str(), body, "application/json");
    EXPECT_TRUE(res) << path;
    if (!res) return -1;
    google::protobuf::Struct object = ParseObject(res->body);
    EXPECT_EQ(object.fields().at("code").number_value(), code) << res->body;
    return res->status;
  }

  Recommender::Service unimplemented_;  // every rpc UNIMPLEMENTED
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<JsonGateway> gateway_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(JsonGatewayTest, RoutesEveryUnaryAndServerStreamingRpc) {
  const std::vector<std::string> paths = gateway_->Paths();
  EXPECT_THAT(paths, Contains("/v1/Recommender/Recommend"));
  EXPECT_THAT(paths, Contains("/v1/Recommender/WatchJob"));
  EXPECT_THAT(paths, Contains("/v1/Recommender/ListModels"));
  EXPECT_THAT(paths, ::testing::Not(Contains("/v1/Experiments/Decide")));
}

TEST_F(JsonGatewayTest, ForwardsToTheServerAndMapsItsStatus) {
  // The server implements nothing: its UNIMPLEMENTED comes back as 501.
  EXPECT_EQ(Post("/v1/Recommender/Recommend", R"({"user": "u1"})", 12), 501);
  EXPECT_EQ(Post("/v1/Recommender/WatchJob", R"({"job_id": "j"})", 12), 501);
  EXPECT_EQ(Post("/v1/Recommender/ListModels", "", 12), 501);
}

TEST_F(JsonGatewayTest, RefusesWhatIsNotAnRpcCall) {
  EXPECT_EQ(Post("/v1/Recommender/Nope", "{}", 5), 404);
  EXPECT_EQ(Post("/v1/Experiments/Decide", "{}", 5), 404);
  EXPECT_EQ(Post("/v1/Recommender/Recommend", R"({"user": )", 3), 400);
  EXPECT_EQ(Post("/v1/Recommender/Recommend", R"({"nope": 1})", 3), 400);
  EXPECT_EQ(Post("/v1/Recommender/Recommend", std::string(2000, ' '), 8), 413);
  httplib::Result get = client_->Get("/v1/Recommender/Recommend");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 405);
  EXPECT_EQ(get->get_header_value("Allow"), "POST");
  httplib::Result text = client_->Post("/v1/Recommender/Recommend", "{}", "text/plain");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 415);
  EXPECT_THAT(text->body, HasSubstr("application/json"));
}

TEST(JsonGatewayStartTest, RefusesAnUnknownService) {
  Recommender::Service unimplemented;
  grpc::ServerBuilder builder;
  builder.RegisterService(&unimplemented);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  JsonGatewayOptions options;
  options.services = {"recbandit.Nope"};
  auto gateway = JsonGateway::Start(options, server->InProcessChannel(grpc::ChannelArguments()));
  EXPECT_EQ(gateway.status().code(), absl::StatusCode::kInvalidArgument);
  options.services.clear();
  EXPECT_FALSE(JsonGateway::Start(options, server->InProcessChannel(grpc::ChannelArguments())).ok());
  server->Shutdown();
}

}  // namespace
}  // namespace recbandit::services
