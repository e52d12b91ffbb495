// Tests of the Recommender rpcs over gRPC: Recommend, RankItems,
// SimilarItems, ListModels, ActivateModel against models trained by the CLI
// into <data_dir>/models, with the documented error codes; hot swap under
// concurrent readers; durable PutEvents feeding fold-in and training jobs;
// the bearer token.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/recommender.grpc.pb.h"
#include "ranking/interactions.h"
#include "services/server.h"
#include "services/serving/serving_model.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::RunRecbandit;
using ::recbandit::testing::ScratchDir;

class RecommenderRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(RunRecbandit({"gen", "interactions", "--users=200", "--items=150", "--nnz=4000",
                            "--factors=4", "--out=" + dir_.File("d.csv")})
                  .exit_code,
              0);
    Train(1);
  }
  void Train(int version) {
    auto r = RunRecbandit({"train", "--input=" + dir_.File("d.csv"), "--factors=8",
                           "--iterations=" + std::to_string(2 + version), "--index=HNSW8",
                           "--out=" + dir_.File("data/models/movies/" + std::to_string(version))});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void Start() {
    ServerOptions options;
    options.port = 0;
    options.data_dir = dir_.File("data");
    auto server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
    stub_ = Recommender::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials()));
  }
  grpc::Status Recommend(const RecommendRequest& request, RecommendResponse* response) {
    grpc::ClientContext ctx;
    return stub_->Recommend(&ctx, request, response);
  }
  ScratchDir dir_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Recommender::Stub> stub_;
};

TEST_F(RecommenderRpcTest, RecommendRankSimilarOnTheActiveModel) {
  Start();
  RecommendRequest request;
  request.set_user("u1");
  request.set_k(5);
  RecommendResponse response;
  ASSERT_TRUE(Recommend(request, &response).ok());
  EXPECT_EQ(response.items_size(), 5);
  EXPECT_FALSE(response.fallback());
  EXPECT_EQ(response.model_name(), "movies");
  EXPECT_EQ(response.model_version(), 1);
  request.set_user("stranger");
  ASSERT_TRUE(Recommend(request, &response).ok());
  EXPECT_TRUE(response.fallback());

  grpc::ClientContext c1;
  SimilarItemsRequest similar;
  similar.set_item("i3");
  similar.set_k(4);
  SimilarItemsResponse similar_response;
  ASSERT_TRUE(stub_->SimilarItems(&c1, similar, &similar_response).ok());
  EXPECT_EQ(similar_response.items_size(), 4);
  for (const auto& it : similar_response.items()) EXPECT_NE(it.item(), "i3");

  grpc::ClientContext c2;
  RankItemsRequest rank;
  rank.set_user("u1");
  for (const char* i : {"i1", "i2", "nope", "i3"}) rank.add_items(i);
  RankItemsResponse ranked;
  ASSERT_TRUE(stub_->RankItems(&c2, rank, &ranked).ok());
  ASSERT_EQ(ranked.items_size(), 4);
  EXPECT_EQ(ranked.items(3).item(), "nope");
}

TEST_F(RecommenderRpcTest, ErrorsCarryTheirCodes) {
  Start();
  RecommendRequest request;
  RecommendResponse response;
  request.set_user("u1");
  request.set_k(5000);
  EXPECT_EQ(Recommend(request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  request.set_k(5);
  request.set_model_name("no-such-model");
  EXPECT_EQ(Recommend(request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  request.clear_model_name();
  request.clear_user();
  EXPECT_EQ(Recommend(request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext c1;
  SimilarItemsRequest similar;
  similar.set_item("no-such-item");
  SimilarItemsResponse similar_response;
  EXPECT_EQ(stub_->SimilarItems(&c1, similar, &similar_response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext c3;
  RankItemsRequest rank;
  rank.set_user("u1");
  for (const char* i : {"i1", "i2", "i1"}) rank.add_items(i);
  RankItemsResponse ranked;
  EXPECT_EQ(stub_->RankItems(&c3, rank, &ranked).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext c2;
  ActivateModelRequest activate;
  activate.set_model_name("movies");
  activate.set_version(99);
  ActivateModelResponse activated;
  EXPECT_EQ(stub_->ActivateModel(&c2, activate, &activated).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(RecommenderRpcTest, NoModelIsFailedPrecondition) {
  ScratchDir empty;
  ServerOptions options;
  options.port = 0;
  options.data_dir = empty.path();
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start(options));
  auto stub = Recommender::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  RecommendRequest request;
  request.set_user("u1");
  RecommendResponse response;
  EXPECT_EQ(stub->Recommend(&ctx, request, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(RecommenderRpcTest, ActivateSwapsVersionsAndRejectsCorruptOnes) {
  Train(2);
  Train(3);
  // Corrupt version 3's user factors: activation must fail, 2 stays active.
  const std::string file = dir_.File("data/models/movies/3/user_factors.bin");
  std::string bytes = recbandit::testing::ReadTextFile(file);
  ASSERT_FALSE(bytes.empty());
  bytes[bytes.size() / 2] ^= 0x40;
  recbandit::testing::WriteTextFile(file, bytes);
  Start();
  auto activate = [&](int64_t version) {
    grpc::ClientContext ctx;
    ActivateModelRequest request;
    request.set_model_name("movies");
    request.set_version(version);
    ActivateModelResponse response;
    return stub_->ActivateModel(&ctx, request, &response);
  };
  ASSERT_TRUE(activate(2).ok());
  RecommendRequest request;
  request.set_user("u1");
  RecommendResponse response;
  ASSERT_TRUE(Recommend(request, &response).ok());
  EXPECT_EQ(response.model_version(), 2);
  EXPECT_EQ(activate(3).error_code(), grpc::StatusCode::DATA_LOSS);
  ASSERT_TRUE(Recommend(request, &response).ok());
  EXPECT_EQ(response.model_version(), 2);
  ASSERT_TRUE(activate(1).ok());  // roll back
  ASSERT_TRUE(Recommend(request, &response).ok());
  EXPECT_EQ(response.model_version(), 1);

  grpc::ClientContext ctx;
  ListModelsRequest list;
  ListModelsResponse models;
  ASSERT_TRUE(stub_->ListModels(&ctx, list, &models).ok());
  ASSERT_EQ(models.models_size(), 3);
  int active = 0;
  for (const auto& m : models.models()) {
    EXPECT_EQ(m.manifest().name(), "movies");
    if (m.active()) {
      ++active;
      EXPECT_EQ(m.manifest().version(), 1);
    }
  }
  EXPECT_EQ(active, 1);
  // The activation is durable: a restarted server serves version 1 again.
  server_.reset();
  Start();
  ASSERT_TRUE(Recommend(request, &response).ok());
  EXPECT_EQ(response.model_version(), 1);
}

// Hot swap under load: readers never fail and every answer is exactly what
// the version it names would answer on its own (never a mix of versions).
TEST_F(RecommenderRpcTest, HotSwapUnderConcurrentRecommendsServesWholeVersions) {
  Train(2);
  constexpr int kUsers = 20;
  // What each version answers for each user, computed outside the server.
  std::map<int64_t, std::vector<std::vector<std::string>>> expected;
  for (int64_t v : {1, 2}) {
    ASSERT_OK_AND_ASSIGN(auto model,
                         ServingModel::Load(dir_.File("data/models/movies/" + std::to_string(v))));
    for (int u = 0; u < kUsers; ++u) {
      RecommendQuery q;
      q.user = "u" + std::to_string(u);
      q.k = 8;
      ASSERT_OK_AND_ASSIGN(Recommendation rec, model->Recommend(q));
      std::vector<std::string> items;
      for (const auto& s : rec.items) items.push_back(s.item);
      expected[v].push_back(items);
    }
  }
  ASSERT_NE(expected[1], expected[2]) << "the versions must differ for the test to mean much";
  Start();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> calls{0}, failures{0}, mismatches{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      int u = t;
      while (!stop) {
        RecommendRequest request;
        request.set_user("u" + std::to_string(u % kUsers));
        request.set_k(8);
        RecommendResponse response;
        grpc::Status s = Recommend(request, &response);
        ++calls;
        if (!s.ok()) {
          ++failures;
        } else {
          std::vector<std::string> items;
          for (const auto& i : response.items()) items.push_back(i.item());
          auto it = expected.find(response.model_version());
          if (it == expected.end() || it->second[u % kUsers] != items) ++mismatches;
        }
        ++u;
      }
    });
  }
  for (int swap = 0; swap < 30; ++swap) {
    grpc::ClientContext ctx;
    ActivateModelRequest request;
    request.set_model_name("movies");
    request.set_version(1 + swap % 2);
    ActivateModelResponse response;
    ASSERT_TRUE(stub_->ActivateModel(&ctx, request, &response).ok());
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(calls.load(), 30);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

// PutEvents is durable: a restarted server still folds the events in and
// excludes their items, and the next training run learns from them.
TEST_F(RecommenderRpcTest, PutEventsSurviveRestartAndFeedTraining) {
  Start();
  RecommendRequest request;
  request.set_user("u1");
  request.set_k(5);
  RecommendResponse before;
  ASSERT_TRUE(Recommend(request, &before).ok());
  const std::string top = before.items(0).item();
  PutEventsRequest put;
  Interaction* x = put.add_events();
  x->set_user("u1");
  x->set_item(top);
  Interaction* y = put.add_events();
  y->set_user("walk-in");
  y->set_item("i2");
  y->set_weight(3);
  {
    grpc::ClientContext ctx;
    PutEventsResponse response;
    ASSERT_TRUE(stub_->PutEvents(&ctx, put, &response).ok());
    EXPECT_EQ(response.accepted(), 2);
  }
  server_.reset();  // shut down; the events were durable before the reply
  Start();
  RecommendResponse after;
  ASSERT_TRUE(Recommend(request, &after).ok());
  for (const auto& i : after.items()) EXPECT_NE(i.item(), top);
  request.set_user("walk-in");
  ASSERT_TRUE(Recommend(request, &after).ok());
  EXPECT_FALSE(after.fallback()) << "folded in from the stored event";

  grpc::ClientContext ctx;
  TrainRequest train;
  train.set_model_name("movies");
  train.set_interactions_path("../d.csv");  // outside the data dir: refused
  train.mutable_params()->set_algo(ALS);
  Job job;
  EXPECT_EQ(stub_->Train(&ctx, train, &job).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  recbandit::testing::WriteTextFile(dir_.File("data/d.csv"),
                                    recbandit::testing::ReadTextFile(dir_.File("d.csv")));
  train.set_interactions_path("d.csv");
  train.mutable_params()->mutable_als()->set_iterations(2);
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->Train(&ctx2, train, &job).ok());
  grpc::ClientContext ctx3;
  GetJobRequest watch;
  watch.set_job_id(job.job_id());
  auto reader = stub_->WatchJob(&ctx3, watch);
  Job update;
  Job last;
  while (reader->Read(&update)) last = update;
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(last.state(), JOB_STATE_SUCCEEDED) << last.error();
  EXPECT_EQ(last.model_version(), 2);
  ASSERT_OK_AND_ASSIGN(auto trained, ServingModel::Load(dir_.File("data/models/movies/2")));
  EXPECT_GE(trained->model().users().Find("walk-in"), 0);
  // Two new (user, item) pairs: u1's top item was unseen, walk-in is new.
  ASSERT_OK_AND_ASSIGN(ranking::InteractionLog file, ranking::LoadInteractions(dir_.File("d.csv")));
  EXPECT_EQ(trained->model().manifest().num_interactions(),
            ranking::Interactions::FromLog(file).nnz() + 2);
}

TEST_F(RecommenderRpcTest, BearerTokenIsRequiredWhenConfigured) {
  ServerOptions options;
  options.port = 0;
  options.data_dir = dir_.File("data");
  options.auth_token = "s3cret";
  ASSERT_OK_AND_ASSIGN(auto server, Server::Start(options));
  auto stub = Recommender::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials()));
  RecommendRequest request;
  request.set_user("u1");
  RecommendResponse response;
  for (const char* header : {"", "Bearer wrong", "s3cret", "Bearer s3cret"}) {
    grpc::ClientContext ctx;
    if (*header) ctx.AddMetadata("authorization", header);
    const grpc::Status s = stub->Recommend(&ctx, request, &response);
    if (std::string(header) == "Bearer s3cret") {
      EXPECT_TRUE(s.ok()) << s.error_message();
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED) << header;
    }
  }
}

}  // namespace
}  // namespace recbandit::services
