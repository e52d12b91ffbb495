// Tests for services/server.h: start on a free port, health SERVING, rpcs not
// landed answer UNIMPLEMENTED with a message, shutdown completes.
#include "services/server.h"

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/recommender.grpc.pb.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::services {
namespace {

using ::testing::HasSubstr;

TEST(ServerTest, StartsAnswersAndShutsDown) {
  ServerOptions options;
  options.port = 0;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options));
  ASSERT_GT(server->port(), 0);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                     grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::seconds(10)));
  auto experiments = Experiments::NewStub(channel);
  grpc::ClientContext ctx;
  DecideRequest request;
  DecideResponse response;
  grpc::Status status = experiments->Decide(&ctx, request, &response);
  // Until the bandits land the rpc is honest about it; afterwards an empty
  // request is INVALID_ARGUMENT or NOT_FOUND. Either way: a message, no crash.
  EXPECT_NE(status.error_code(), grpc::StatusCode::OK);
  EXPECT_FALSE(status.error_message().empty());

  server->Shutdown(absl::Seconds(1));
  server->Wait();
  grpc::ClientContext after;
  after.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  EXPECT_FALSE(experiments->Decide(&after, request, &response).ok());
}

TEST(ServerTest, SecondServerOnTheSamePortFails) {
  ServerOptions options;
  options.port = 0;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> first, Server::Start(options));
  options.port = first->port();
  auto second = Server::Start(options);
  EXPECT_THAT(second, ::recbandit::testing::StatusIs(absl::StatusCode::kUnavailable,
                                                     HasSubstr("cannot listen")));
}

}  // namespace
}  // namespace recbandit::services
