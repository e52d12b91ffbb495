// Tests of the Recommender rpcs over gRPC: Recommend, RankItems,
// SimilarItems, ListModels, ActivateModel against models trained by the CLI
// into <data_dir>/models, with the documented error codes.
#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/recommender.grpc.pb.h"
#include "services/server.h"
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

}  // namespace
}  // namespace recbandit::services
