// Tests for services/server.h: start on a free port, health SERVING, rpcs not
// landed answer UNIMPLEMENTED with a message, shutdown completes.
#include "services/server.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/recommender.grpc.pb.h"
#include "proto/core/file_util.h"
#include "ranking/factor_model.h"
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

// Returns the body of GET /metrics on 127.0.0.1:port ("" on failure).
std::string ScrapeMetrics(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) out.append(buf, n);
    }
  }
  ::close(fd);
  return out;
}

// Saves a 2-user, 3-item model as <dir>/models/<name>/1 whose best item for
// user "u" is `best`.
void SaveTinyModel(const std::string& dir, const std::string& name, int best) {
  ranking::IdMap users, items;
  users.GetOrAdd("u");
  users.GetOrAdd("v");
  for (const char* i : {"a", "b", "c"}) items.GetOrAdd(i);
  std::vector<float> item_factors(3, 0.1f);
  item_factors[best] = 1.0f;
  ModelManifest manifest;
  manifest.set_name(name);
  manifest.set_algo(ALS);
  manifest.mutable_params()->set_algo(ALS);
  auto model = ranking::FactorModel::Create(users, items, 1, {1, 1}, item_factors, {}, manifest);
  ASSERT_TRUE(model.ok());
  ASSERT_OK(model->Save(absl::StrCat(dir, "/models/", name, "/1")));
}

TEST(ServerTest, ModelsLoadOnDemandWithinTheMemoryBudget) {
  recbandit::testing::ScratchDir dir;
  for (int m = 0; m < 3; ++m) SaveTinyModel(dir.path(), absl::StrCat("m", m), m);
  SaveTinyModel(dir.path(), "broken", 0);
  const std::string file = dir.path() + "/models/broken/1/item_factors.bin";
  ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(file));
  bytes[1] ^= 0x10;
  ASSERT_OK(WriteFileAtomically(file, bytes));
  ServerOptions options;
  options.port = 0;
  options.data_dir = dir.path();
  options.metrics_port = -1;
  options.model_memory_budget = 480;  // one tiny model (384 bytes), not two
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Server> server, Server::Start(options));
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = Recommender::NewStub(channel);
  auto recommend = [&](const std::string& model, RecommendResponse* response) {
    grpc::ClientContext ctx;
    RecommendRequest request;
    request.set_model_name(model);
    request.set_user("u");
    request.set_k(1);
    return stub->Recommend(&ctx, request, response);
  };
  const char* names[] = {"a", "b", "c"};
  for (int m : {0, 1, 2, 0}) {
    RecommendResponse response;
    grpc::Status status = recommend(absl::StrCat("m", m), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.items_size(), 1);
    EXPECT_EQ(response.items(0).item(), names[m]);
  }
  RecommendResponse response;
  grpc::Status broken = recommend("broken", &response);
  EXPECT_EQ(broken.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_THAT(broken.error_message(), HasSubstr("item_factors.bin"));
  const std::string metrics = ScrapeMetrics(server->metrics_port());
  // m0, m1, m2, m0 loaded (each evicting the one before); the damaged one
  // failed to load and evicted nothing.
  for (const char* line :
       {"\nrecbandit_models_resident 1\n", "\nrecbandit_model_evictions_total 3\n",
        "\nrecbandit_model_load_seconds_count 4\n", "\nrecbandit_model_resident_bytes 384\n"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line;
  }
  server->Shutdown(absl::Seconds(1));
  server->Wait();
}

TEST(ServerTest, MissingDataDirIsInvalidArgument) {
  ServerOptions options;
  options.port = 0;
  EXPECT_THAT(Server::Start(options),
              ::recbandit::testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace recbandit::services
