// Tests for services/server.h: start on a free port, health SERVING, rpcs not
// landed answer UNIMPLEMENTED with a message, shutdown completes.
#include "services/server.h"

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/recommender.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::testing::HasSubstr;

TEST(ServerTest, StartsAnswersAndShutsDown) {
  recbandit::testing::ScratchDir dir;
  ServerOptions options;
  options.port = 0;
  options.data_dir = dir.path();
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
  recbandit::testing::ScratchDir dir, other;
  ServerOptions options;
  options.port = 0;
  options.data_dir = dir.path();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> first, Server::Start(options));
  options.port = first->port();
  options.data_dir = other.path();
  auto second = Server::Start(options);
  EXPECT_THAT(second, ::recbandit::testing::StatusIs(absl::StatusCode::kUnavailable,
                                                     HasSubstr("cannot listen")));
}

TEST(ServerTest, ExperimentsCreateDecideRewardOverGrpc) {
  recbandit::testing::ScratchDir dir;
  ServerOptions options;
  options.port = 0;
  options.data_dir = dir.path();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options));
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = Experiments::NewStub(channel);
  CreateExperimentRequest create;
  create.mutable_config()->set_name("layout");
  Variant* v = create.mutable_config()->add_variants();
  v->set_name("eg");
  v->set_policy_spec("epsilon_greedy:epsilon=0.2");
  v->set_traffic_weight(1);
  ExperimentConfig created;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->CreateExperiment(&ctx, create, &created).ok());
  }
  {
    grpc::ClientContext ctx;
    ExperimentConfig again;
    EXPECT_EQ(stub->CreateExperiment(&ctx, create, &again).error_code(),
              grpc::StatusCode::ALREADY_EXISTS);
  }
  DecideRequest decide;
  decide.set_experiment("layout");
  decide.set_event_id("ev-1");
  for (const char* id : {"a", "b", "c"}) decide.add_actions()->set_id(id);
  DecideResponse decision;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->Decide(&ctx, decide, &decision);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(decision.event_id(), "ev-1");
  ASSERT_EQ(decision.pmf_size(), 3);
  EXPECT_NEAR(decision.pmf(0) + decision.pmf(1) + decision.pmf(2), 1.0, 1e-9);
  EXPECT_GT(decision.propensity(), 0);
  {
    grpc::ClientContext ctx;
    DecideResponse dup;
    EXPECT_EQ(stub->Decide(&ctx, decide, &dup).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  }
  RewardRequest reward;
  reward.set_experiment("layout");
  reward.set_event_id("ev-1");
  reward.set_value(1);
  RewardResponse rewarded;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Reward(&ctx, reward, &rewarded).ok());
  }
  reward.set_event_id("no-such-event");
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub->Reward(&ctx, reward, &rewarded).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    GetExperimentRequest get;
    get.set_name("nope");
    ExperimentConfig missing;
    EXPECT_EQ(stub->GetExperiment(&ctx, get, &missing).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  server->Shutdown(absl::Seconds(1));
}

TEST(ServerTest, MissingDataDirIsInvalidArgument) {
  ServerOptions options;
  options.port = 0;
  EXPECT_THAT(Server::Start(options),
              ::recbandit::testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace recbandit::services
