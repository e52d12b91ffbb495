// Tests of services::TrainingJobs and ResolveDataPath: jobs train, save and
// activate new versions in order with progress; real-time events join the
// training data; queued and running jobs cancel without writing a model; the
// queue bound; paths confined to the data directory.
#include "services/serving/training_jobs.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/file_util.h"
#include "ranking/interactions.h"
#include "ranking/synthetic.h"
#include "services/serving/model_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::WriteTextFile;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

class TrainingJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ranking::SyntheticOptions gen;
    gen.users = 300;
    gen.items = 200;
    gen.nnz = 6000;
    gen.factors = 4;
    gen.seed = 5;
    ASSERT_OK_AND_ASSIGN(ranking::SyntheticData data, ranking::GenerateInteractions(gen));
    ASSERT_OK(ranking::WriteInteractions(dir_.File("train.csv"), data.log));
    ASSERT_OK_AND_ASSIGN(store_, ModelStore::Open(dir_.File("models")));
    ASSERT_OK_AND_ASSIGN(ranking::InteractionLog written,
                         ranking::LoadInteractions(dir_.File("train.csv")));
    distinct_pairs_ = ranking::Interactions::FromLog(written).nnz();
  }

  std::unique_ptr<TrainingJobs> MakeJobs(TrainingJobsOptions options = {}) {
    options.data_dir = dir_.path();
    return std::make_unique<TrainingJobs>(store_.get(), options);
  }

  static TrainRequest Request(const std::string& name, int iterations) {
    TrainRequest r;
    r.set_model_name(name);
    r.set_interactions_path("train.csv");
    r.mutable_params()->set_algo(ALS);
    r.mutable_params()->mutable_als()->set_factors(8);
    r.mutable_params()->mutable_als()->set_iterations(iterations);
    r.mutable_params()->mutable_als()->set_compute_loss(true);
    return r;
  }

  static TrainRequest LongRequest(const std::string& name) {
    TrainRequest r = Request(name, 1);
    r.mutable_params()->set_algo(BPR);
    r.mutable_params()->clear_als();
    r.mutable_params()->mutable_bpr()->set_epochs(10000);
    return r;
  }

  // Returns every distinct state the job passed through until it ended.
  static std::vector<Job> WatchToEnd(const TrainingJobs& jobs, const std::string& id) {
    std::vector<Job> seen;
    int64_t revision = -1;
    for (int i = 0; i < 2400; ++i) {
      absl::StatusOr<Job> job = jobs.WaitForChange(id, &revision, absl::Milliseconds(250));
      EXPECT_TRUE(job.ok()) << job.status();
      if (!job.ok()) break;
      if (seen.empty() || seen.back().SerializeAsString() != job->SerializeAsString()) {
        seen.push_back(*job);
      }
      if (IsTerminal(job->state())) break;
    }
    return seen;
  }

  static void WaitUntilRunningIteration(const TrainingJobs& jobs, const std::string& id) {
    for (int i = 0; i < 6000; ++i) {
      absl::StatusOr<Job> job = jobs.Get(id);
      ASSERT_TRUE(job.ok());
      if (job->iteration() >= 1) return;
      usleep(10000);
    }
    FAIL() << "job " << id << " never finished an iteration";
  }

  ScratchDir dir_;
  std::unique_ptr<ModelStore> store_;
  int64_t distinct_pairs_ = 0;  // (user, item) pairs in train.csv
};

TEST_F(TrainingJobsTest, JobsTrainSaveAndActivateVersionsInOrder) {
  auto jobs = MakeJobs();
  ASSERT_OK_AND_ASSIGN(Job first, jobs->Submit(Request("movies", 3)));
  ASSERT_OK_AND_ASSIGN(Job second, jobs->Submit(Request("movies", 2)));
  EXPECT_EQ(first.total_iterations(), 3);
  EXPECT_NE(first.job_id(), second.job_id());
  const std::vector<Job> updates = WatchToEnd(*jobs, first.job_id());
  ASSERT_FALSE(updates.empty());
  const Job& done = updates.back();
  ASSERT_EQ(done.state(), JOB_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.model_version(), 1);
  EXPECT_EQ(done.iteration(), 3);
  EXPECT_GT(done.loss(), 0);
  EXPECT_EQ(done.report().num_interactions(), distinct_pairs_);
  // Progress was reported iteration by iteration.
  int last = 0;
  for (const Job& u : updates) {
    EXPECT_GE(u.iteration(), last);
    last = u.iteration();
  }
  const Job second_done = WatchToEnd(*jobs, second.job_id()).back();
  ASSERT_EQ(second_done.state(), JOB_STATE_SUCCEEDED) << second_done.error();
  EXPECT_EQ(second_done.model_version(), 2);
  ASSERT_OK_AND_ASSIGN(auto serving, store_->Get("movies"));
  EXPECT_EQ(serving->version(), 2);
  EXPECT_EQ(serving->model().manifest().name(), "movies");
  EXPECT_EQ(serving->model().manifest().version(), 2);
  ASSERT_OK_AND_ASSIGN(std::vector<ModelInfo> listed, store_->List("movies"));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].manifest().version(), 2);
  EXPECT_TRUE(listed[0].active());
}

TEST_F(TrainingJobsTest, IndexAndMetricsAreBuiltWhenAsked) {
  auto jobs = MakeJobs();
  TrainRequest r = Request("indexed", 2);
  r.mutable_params()->set_index_factory("HNSW16");
  r.set_test_path(dir_.File("train.csv"));  // absolute inside the data dir
  r.set_k(5);
  ASSERT_OK_AND_ASSIGN(Job job, jobs->Submit(r));
  const Job done = WatchToEnd(*jobs, job.job_id()).back();
  ASSERT_EQ(done.state(), JOB_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.report().index_factory(), "HNSW16");
  EXPECT_EQ(done.report().metrics().k(), 5);
  EXPECT_TRUE(PathExists(store_->VersionDir("indexed", 1) + "/" + kItemIndexFile));
  ASSERT_OK_AND_ASSIGN(auto serving, store_->Get("indexed"));
  EXPECT_EQ(serving->model().manifest().metrics().k(), 5);
}

TEST_F(TrainingJobsTest, AFailedIndexBuildLeavesNoVersionAndTheDefaultStays) {
  auto jobs = MakeJobs();
  ASSERT_OK_AND_ASSIGN(Job first, jobs->Submit(Request("movies", 1)));
  ASSERT_EQ(WatchToEnd(*jobs, first.job_id()).back().state(), JOB_STATE_SUCCEEDED);
  // Past the grammar's bound: refused at Submit, nothing queued.
  TrainRequest r = Request("other", 1);
  r.mutable_params()->set_index_factory("IVF100000,Flat");
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("nlist must be in [1, 65536]")));
  // A valid factory string that cannot be built here: more IVF lists than
  // items, known once the job has read the data (it fails before training).
  r.mutable_params()->set_index_factory("IVF60000,Flat");
  ASSERT_OK_AND_ASSIGN(Job broken, jobs->Submit(r));
  const Job failed = WatchToEnd(*jobs, broken.job_id()).back();
  EXPECT_EQ(failed.state(), JOB_STATE_FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("IVF lists"));
  EXPECT_FALSE(PathExists(store_->VersionDir("other", 1)));
  EXPECT_FALSE(PathExists(store_->VersionDir("other", 1) + ".staging"));
  // A new name trained later is served under its name; the default stays.
  ASSERT_OK_AND_ASSIGN(Job other, jobs->Submit(Request("other", 1)));
  ASSERT_EQ(WatchToEnd(*jobs, other.job_id()).back().state(), JOB_STATE_SUCCEEDED);
  ASSERT_OK_AND_ASSIGN(auto by_default, store_->Get(""));
  EXPECT_EQ(by_default->name(), "movies");
  ASSERT_OK_AND_ASSIGN(auto by_name, store_->Get("other"));
  EXPECT_EQ(by_name->version(), 1);
  // A factory string FAISS does not know is refused at once.
  r.mutable_params()->set_index_factory("NoSuchIndex42");
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("index_factory")));
}

TEST_F(TrainingJobsTest, RealTimeEventsJoinTheTrainingData) {
  TrainingJobsOptions options;
  options.extra_interactions =
      [](const std::function<void(const Interaction&)>& add) -> absl::Status {
    for (int i = 0; i < 3; ++i) {
      Interaction x;
      x.set_user("brand-new-user");
      x.set_item(absl::StrCat("i", i));
      add(x);
    }
    return absl::OkStatus();
  };
  auto jobs = MakeJobs(options);
  ASSERT_OK_AND_ASSIGN(Job job, jobs->Submit(Request("events", 1)));
  const Job done = WatchToEnd(*jobs, job.job_id()).back();
  ASSERT_EQ(done.state(), JOB_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.report().num_interactions(), distinct_pairs_ + 3);
  ASSERT_OK_AND_ASSIGN(auto serving, store_->Get("events"));
  EXPECT_GE(serving->model().users().Find("brand-new-user"), 0);
}

TEST_F(TrainingJobsTest, CancelStopsQueuedAndRunningJobsWithoutAModel) {
  TrainingJobsOptions options;
  options.max_queued = 1;
  auto jobs = MakeJobs(options);
  ASSERT_OK_AND_ASSIGN(Job running, jobs->Submit(LongRequest("long")));
  WaitUntilRunningIteration(*jobs, running.job_id());
  ASSERT_OK_AND_ASSIGN(Job queued, jobs->Submit(Request("queued", 1)));
  EXPECT_EQ(queued.state(), JOB_STATE_QUEUED);
  EXPECT_THAT(jobs->Submit(Request("third", 1)),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("queued")));

  ASSERT_OK_AND_ASSIGN(Job cancelled, jobs->Cancel(queued.job_id()));
  EXPECT_EQ(cancelled.state(), JOB_STATE_CANCELLED);  // at once
  ASSERT_OK(jobs->Cancel(running.job_id()).status());
  const Job stopped = WatchToEnd(*jobs, running.job_id()).back();
  EXPECT_EQ(stopped.state(), JOB_STATE_CANCELLED);
  EXPECT_LT(stopped.iteration(), 10000);
  EXPECT_THAT(store_->Get("long"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_FALSE(PathExists(store_->VersionDir("long", 1)));
  EXPECT_FALSE(PathExists(store_->VersionDir("queued", 1)));
  // Cancelling a finished job returns it unchanged.
  ASSERT_OK_AND_ASSIGN(Job again, jobs->Cancel(running.job_id()));
  EXPECT_EQ(again.state(), JOB_STATE_CANCELLED);
  EXPECT_THAT(jobs->Get("job-unknown"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(TrainingJobsTest, ShutdownCancelsEverything) {
  auto jobs = MakeJobs();
  ASSERT_OK_AND_ASSIGN(Job running, jobs->Submit(LongRequest("long")));
  ASSERT_OK_AND_ASSIGN(Job queued, jobs->Submit(Request("after", 1)));
  WaitUntilRunningIteration(*jobs, running.job_id());
  jobs->Shutdown();
  ASSERT_OK_AND_ASSIGN(Job a, jobs->Get(running.job_id()));
  ASSERT_OK_AND_ASSIGN(Job b, jobs->Get(queued.job_id()));
  EXPECT_EQ(a.state(), JOB_STATE_CANCELLED);
  EXPECT_EQ(b.state(), JOB_STATE_CANCELLED);
  EXPECT_THAT(jobs->Submit(Request("late", 1)), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(TrainingJobsTest, BadRequestsAreRejectedAtSubmit) {
  auto jobs = MakeJobs();
  TrainRequest r = Request("ok", 1);
  r.set_model_name("");
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("model_name")));
  r = Request("ok", 1);
  r.mutable_params()->set_algo(ALGORITHM_UNSPECIFIED);
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("algo")));
  r = Request("ok", 1);
  r.mutable_params()->mutable_als()->set_solver("magic");
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("solver")));
  r = Request("ok", 1);
  r.set_k(5000);
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("k")));
  r = Request("ok", 1);
  r.set_interactions_path("nope.csv");
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope.csv")));
  r.set_interactions_path("/etc/passwd");
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kPermissionDenied));
  // A job whose file turns out malformed fails with the file and line.
  WriteTextFile(dir_.File("bad.csv"), "u1,i1\nu2\n");
  r.set_interactions_path("bad.csv");
  ASSERT_OK_AND_ASSIGN(Job job, jobs->Submit(r));
  const Job failed = WatchToEnd(*jobs, job.job_id()).back();
  EXPECT_EQ(failed.state(), JOB_STATE_FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("bad.csv:2"));
}

TEST(ResolveDataPathTest, ConfinesPathsToTheDataDirectory) {
  ScratchDir dir;
  ASSERT_OK(MakeDirs(dir.File("data/sub")));
  WriteTextFile(dir.File("data/sub/x.csv"), "u,i\n");
  WriteTextFile(dir.File("outside.csv"), "u,i\n");
  const std::string data = dir.File("data");
  ASSERT_OK_AND_ASSIGN(std::string resolved, ResolveDataPath(data, "sub/x.csv", "path"));
  EXPECT_EQ(resolved, std::filesystem::canonical(dir.File("data/sub/x.csv")).string());
  EXPECT_OK(ResolveDataPath(data, dir.File("data/sub/../sub/x.csv"), "path").status());
  EXPECT_THAT(ResolveDataPath(data, "../outside.csv", "path"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("outside")));
  EXPECT_THAT(ResolveDataPath(data, dir.File("outside.csv"), "path"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // A symlink inside that points outside is still outside.
  std::filesystem::create_symlink(dir.File("outside.csv"), dir.File("data/link.csv"));
  EXPECT_THAT(ResolveDataPath(data, "link.csv", "path"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  // A sibling directory sharing the prefix ("data2") is outside too.
  ASSERT_OK(MakeDirs(dir.File("data2")));
  WriteTextFile(dir.File("data2/y.csv"), "u,i\n");
  EXPECT_THAT(ResolveDataPath(data, "../data2/y.csv", "path"),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(ResolveDataPath(data, "sub/missing.csv", "path"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ResolveDataPath(data, "", "interactions_path"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("interactions_path")));
}

}  // namespace
}  // namespace recbandit::services

namespace recbandit::services {
namespace {

TEST_F(TrainingJobsTest, OnlyTheNewestKeepVersionsStayAfterEachJob) {
  auto jobs = MakeJobs();
  for (int i = 0; i < 7; ++i) {
    ASSERT_OK_AND_ASSIGN(Job job, jobs->Submit(Request("pruned", 1)));
    ASSERT_EQ(WatchToEnd(*jobs, job.job_id()).back().state(), JOB_STATE_SUCCEEDED);
  }
  ASSERT_OK_AND_ASSIGN(std::vector<ModelInfo> listed, store_->List("pruned"));
  std::vector<int64_t> versions;
  for (const ModelInfo& m : listed) versions.push_back(m.manifest().version());
  EXPECT_THAT(versions, ::testing::ElementsAre(7, 6, 5, 4, 3));  // keep_versions = 5
  EXPECT_TRUE(listed[0].active());
  EXPECT_FALSE(PathExists(store_->VersionDir("pruned", 2)));
}

}  // namespace
}  // namespace recbandit::services
