// Tests of services::JobQueue, ResolveDataPath and ResolveOutputPath: jobs
// train, save and activate new versions in order with progress; real-time
// events join the training data; queued and running jobs cancel without
// writing a model; the queue bound; jobs survive a restart and a resumed
// training job ends with the same factors as an uninterrupted one; damaged
// records are reported; validation gates promote or hold back a version;
// batch recommendation jobs write their file; paths confined to the data
// directory.
#include "services/serving/job_queue.h"

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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

class JobQueueTest : public ::testing::Test {
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

  std::unique_ptr<JobQueue> MakeJobs(JobQueueOptions options = {}) {
    options.data_dir = dir_.path();
    absl::StatusOr<std::unique_ptr<JobQueue>> jobs = JobQueue::Open(store_.get(), options);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    return jobs.ok() ? std::move(*jobs) : nullptr;
  }

  // Returns the bytes of a stored version's factor files.
  std::string Factors(const std::string& name, int64_t version) const {
    std::string all;
    for (const char* file : {"user_factors.bin", "item_factors.bin", "item_bias.bin"}) {
      const std::string path = store_->VersionDir(name, version) + "/" + file;
      if (!PathExists(path)) continue;
      absl::StatusOr<std::string> bytes = ReadFileToString(path);
      EXPECT_TRUE(bytes.ok()) << bytes.status();
      if (bytes.ok()) absl::StrAppend(&all, file, ":", *bytes);
    }
    return all;
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
  static std::vector<Job> WatchToEnd(const JobQueue& jobs, const std::string& id) {
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

  static void WaitUntilRunningIteration(const JobQueue& jobs, const std::string& id) {
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

TEST_F(JobQueueTest, JobsTrainSaveAndActivateVersionsInOrder) {
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

TEST_F(JobQueueTest, IndexAndMetricsAreBuiltWhenAsked) {
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

TEST_F(JobQueueTest, AFailedIndexBuildLeavesNoVersionAndTheDefaultStays) {
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

TEST_F(JobQueueTest, RealTimeEventsJoinTheTrainingData) {
  JobQueueOptions options;
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

TEST_F(JobQueueTest, CancelStopsQueuedAndRunningJobsWithoutAModel) {
  JobQueueOptions options;
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

TEST_F(JobQueueTest, ShutdownLeavesJobsForTheNextOpen) {
  auto jobs = MakeJobs();
  ASSERT_OK_AND_ASSIGN(Job running, jobs->Submit(LongRequest("long")));
  ASSERT_OK_AND_ASSIGN(Job queued, jobs->Submit(Request("after", 1)));
  ASSERT_OK_AND_ASSIGN(Job done, jobs->Submit(Request("done", 1)));
  ASSERT_OK(jobs->Cancel(done.job_id()).status());
  WaitUntilRunningIteration(*jobs, running.job_id());
  jobs->Shutdown();
  EXPECT_THAT(jobs->Submit(Request("late", 1)), StatusIs(absl::StatusCode::kUnavailable));
  jobs.reset();

  jobs = MakeJobs();
  ASSERT_OK_AND_ASSIGN(Job a, jobs->Get(running.job_id()));
  EXPECT_EQ(a.restarts(), 1);
  EXPECT_NE(a.state(), JOB_STATE_CANCELLED);
  ASSERT_OK_AND_ASSIGN(Job c, jobs->Get(done.job_id()));
  EXPECT_EQ(c.state(), JOB_STATE_CANCELLED);  // finished jobs are remembered too
  // The long job resumed from its checkpoint, not from scratch.
  for (int i = 0; i < 6000; ++i) {
    ASSERT_OK_AND_ASSIGN(a, jobs->Get(running.job_id()));
    if (a.state() == JOB_STATE_RUNNING && a.resumed_from_iteration() > 0 &&
        a.iteration() > a.resumed_from_iteration()) {
      break;
    }
    usleep(10000);
  }
  EXPECT_GE(a.resumed_from_iteration(), 1);
  ASSERT_OK(jobs->Cancel(running.job_id()).status());
  EXPECT_EQ(WatchToEnd(*jobs, running.job_id()).back().state(), JOB_STATE_CANCELLED);
  const Job b = WatchToEnd(*jobs, queued.job_id()).back();
  EXPECT_EQ(b.state(), JOB_STATE_SUCCEEDED) << b.error();
  EXPECT_EQ(b.restarts(), 0);  // it had not started
}

// Stops the queue once `id` has done at least `iterations`, reopens it and
// returns the job at its end.
TEST_F(JobQueueTest, AResumedJobEndsWithTheFactorsOfAnUninterruptedOne) {
  for (const Algorithm algo : {ALS, BPR}) {
    SCOPED_TRACE(Algorithm_Name(algo));
    const std::string name = absl::StrCat("m", Algorithm_Name(algo));
    TrainRequest r = Request(name, 6);
    r.mutable_params()->set_threads(1);
    r.mutable_params()->set_seed(11);
    if (algo == BPR) {
      r.mutable_params()->clear_als();
      r.mutable_params()->set_algo(BPR);
      r.mutable_params()->mutable_bpr()->set_factors(8);
      r.mutable_params()->mutable_bpr()->set_epochs(40);
      r.mutable_params()->mutable_bpr()->set_compute_loss(true);
      r.mutable_params()->mutable_bpr()->set_item_bias(true);
    }
    auto jobs = MakeJobs();
    ASSERT_OK_AND_ASSIGN(Job whole, jobs->Submit(r));
    const Job reference = WatchToEnd(*jobs, whole.job_id()).back();
    ASSERT_EQ(reference.state(), JOB_STATE_SUCCEEDED) << reference.error();

    ASSERT_OK_AND_ASSIGN(Job cut, jobs->Submit(r));
    for (int i = 0; i < 6000; ++i) {
      ASSERT_OK_AND_ASSIGN(Job now, jobs->Get(cut.job_id()));
      if (now.iteration() >= 2 || IsTerminal(now.state())) break;
      usleep(2000);
    }
    jobs->Shutdown();
    jobs.reset();
    jobs = MakeJobs();
    const Job resumed = WatchToEnd(*jobs, cut.job_id()).back();
    ASSERT_EQ(resumed.state(), JOB_STATE_SUCCEEDED) << resumed.error();
    if (resumed.restarts() == 1) {
      EXPECT_GE(resumed.resumed_from_iteration(), 1);
    }
    EXPECT_EQ(resumed.model_version(), reference.model_version() + 1);
    EXPECT_EQ(Factors(name, resumed.model_version()), Factors(name, reference.model_version()));
    EXPECT_FALSE(Factors(name, reference.model_version()).empty());
    // The loss curve is whole, as uninterrupted.
    EXPECT_EQ(resumed.report().loss_size(), reference.report().loss_size());
    jobs.reset();
  }
}

TEST_F(JobQueueTest, DamagedRecordsAreReportedAndMovedAside) {
  auto jobs = MakeJobs();
  ASSERT_OK_AND_ASSIGN(Job job, jobs->Submit(Request("movies", 1)));
  ASSERT_EQ(WatchToEnd(*jobs, job.job_id()).back().state(), JOB_STATE_SUCCEEDED);
  jobs.reset();
  const std::string record = dir_.File("jobs/" + job.job_id() + "/job.record");
  ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(record));
  bytes[bytes.size() / 2] ^= 0x5a;  // one flipped byte
  WriteTextFile(record, bytes);
  ASSERT_OK(MakeDirs(dir_.File("jobs/job-cut-short")));  // a submission that never finished
  jobs = MakeJobs();
  EXPECT_THAT(jobs->Get(job.job_id()), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE(PathExists(record + ".corrupt"));
  EXPECT_FALSE(PathExists(record));
  EXPECT_FALSE(PathExists(dir_.File("jobs/job-cut-short")));
}

TEST_F(JobQueueTest, AResumedJobRefusesAChangedInputFile) {
  auto jobs = MakeJobs();
  ASSERT_OK_AND_ASSIGN(Job job, jobs->Submit(LongRequest("long")));
  WaitUntilRunningIteration(*jobs, job.job_id());
  jobs->Shutdown();
  jobs.reset();
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileToString(dir_.File("train.csv")));
  WriteTextFile(dir_.File("train.csv"), text + "late-user,late-item,1,1\n");
  jobs = MakeJobs();
  const Job failed = WatchToEnd(*jobs, job.job_id()).back();
  EXPECT_EQ(failed.state(), JOB_STATE_FAILED);
  EXPECT_THAT(failed.error(), HasSubstr("changed since the job started"));
}

TEST_F(JobQueueTest, GatesPromoteAPassingVersionAndHoldBackAFailingOne) {
  auto jobs = MakeJobs();
  TrainRequest good = Request("gated", 8);
  good.mutable_gates()->mutable_holdout()->set_scheme("user_holdout");
  good.mutable_gates()->mutable_holdout()->set_fraction(0.3);
  good.mutable_gates()->mutable_ndcg_tolerance()->set_value(0);
  good.mutable_gates()->mutable_min_coverage()->set_value(0.01);
  ASSERT_OK_AND_ASSIGN(Job first, jobs->Submit(good));
  const Job promoted = WatchToEnd(*jobs, first.job_id()).back();
  ASSERT_EQ(promoted.state(), JOB_STATE_SUCCEEDED) << promoted.error();
  const ValidationReport& v1 = promoted.report().validation();
  EXPECT_TRUE(v1.promoted());
  EXPECT_EQ(v1.baseline_version(), 0);  // nothing active to compare with
  EXPECT_GT(v1.holdout_interactions(), 0);
  ASSERT_EQ(v1.gates_size(), 4);  // holdout, training_loss, ndcg_at_k, coverage_at_k
  for (const GateResult& g : v1.gates()) EXPECT_TRUE(g.passed()) << g.ShortDebugString();
  EXPECT_GT(v1.candidate_metrics().ndcg_at_k(), 0);

  // A much weaker candidate (1 factor, 1 iteration) fails the NDCG gate
  // against version 1: stored, with its figures, but not served.
  TrainRequest weak = good;
  weak.mutable_params()->mutable_als()->set_factors(1);
  weak.mutable_params()->mutable_als()->set_iterations(1);
  ASSERT_OK_AND_ASSIGN(Job second, jobs->Submit(weak));
  const Job held = WatchToEnd(*jobs, second.job_id()).back();
  ASSERT_EQ(held.state(), JOB_STATE_NOT_PROMOTED) << held.error();
  EXPECT_EQ(held.model_version(), 2);
  const ValidationReport& v2 = held.report().validation();
  EXPECT_FALSE(v2.promoted());
  EXPECT_EQ(v2.baseline_version(), 1);
  const GateResult& ndcg = v2.gates(2);
  EXPECT_EQ(ndcg.gate(), "ndcg_at_k");
  EXPECT_FALSE(ndcg.passed());
  EXPECT_LT(ndcg.candidate(), ndcg.baseline());
  EXPECT_DOUBLE_EQ(ndcg.threshold(), ndcg.baseline());
  ASSERT_OK_AND_ASSIGN(auto serving, store_->Get("gated"));
  EXPECT_EQ(serving->version(), 1);
  // ListModels shows both versions' gate results.
  ASSERT_OK_AND_ASSIGN(std::vector<ModelInfo> listed, store_->List("gated"));
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_FALSE(listed[0].manifest().validation().promoted());
  EXPECT_FALSE(listed[0].active());
  EXPECT_TRUE(listed[1].manifest().validation().promoted());

  // force activates it all the same, and says so.
  weak.mutable_gates()->set_force(true);
  ASSERT_OK_AND_ASSIGN(Job third, jobs->Submit(weak));
  const Job forced = WatchToEnd(*jobs, third.job_id()).back();
  ASSERT_EQ(forced.state(), JOB_STATE_SUCCEEDED);
  EXPECT_TRUE(forced.report().validation().forced());
  ASSERT_OK_AND_ASSIGN(serving, store_->Get("gated"));
  EXPECT_EQ(serving->version(), 3);
}

TEST_F(JobQueueTest, GatesFailClosedWithoutHoldoutData) {
  auto jobs = MakeJobs();
  WriteTextFile(dir_.File("plain.csv"), "u1,i1\nu1,i2\nu2,i1\nu2,i3\nu3,i2\n");
  TrainRequest r = Request("plain", 2);
  r.set_interactions_path("plain.csv");
  r.mutable_gates()->mutable_min_coverage()->set_value(0);  // the time holdout needs timestamps
  ASSERT_OK_AND_ASSIGN(Job job, jobs->Submit(r));
  const Job held = WatchToEnd(*jobs, job.job_id()).back();
  ASSERT_EQ(held.state(), JOB_STATE_NOT_PROMOTED) << held.error();
  const GateResult& holdout = held.report().validation().gates(0);
  EXPECT_EQ(holdout.gate(), "holdout");
  EXPECT_FALSE(holdout.passed());
  EXPECT_THAT(holdout.detail(), HasSubstr("timestamp"));
  EXPECT_THAT(store_->Get("plain"), StatusIs(absl::StatusCode::kNotFound));
  // Bad gates are refused at Submit.
  r.mutable_gates()->mutable_min_coverage()->set_value(1.5);
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("gates.min_coverage")));
  r.mutable_gates()->mutable_min_coverage()->set_value(0.5);
  r.mutable_gates()->mutable_min_index_recall()->set_value(0.9);
  EXPECT_THAT(jobs->Submit(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("index_factory")));
}

TEST_F(JobQueueTest, BatchRecommendJobsWriteTheirFile) {
  auto jobs = MakeJobs();
  ASSERT_OK_AND_ASSIGN(Job trained, jobs->Submit(Request("movies", 2)));
  ASSERT_EQ(WatchToEnd(*jobs, trained.job_id()).back().state(), JOB_STATE_SUCCEEDED);
  BatchRecommendRequest b;
  b.set_output_path("recs.jsonl");
  b.set_k(3);
  b.add_users("cold-user");
  ASSERT_OK_AND_ASSIGN(auto serving, store_->Get("movies"));
  const std::string known = serving->model().users().Name(0);
  b.add_users(known);
  ASSERT_OK_AND_ASSIGN(Job job, jobs->Submit(b));
  EXPECT_EQ(job.kind(), JOB_KIND_BATCH_RECOMMEND);
  EXPECT_EQ(job.users_total(), 2);
  const Job done = WatchToEnd(*jobs, job.job_id()).back();
  ASSERT_EQ(done.state(), JOB_STATE_SUCCEEDED) << done.error();
  EXPECT_EQ(done.users_done(), 2);
  EXPECT_EQ(done.batch_report().users(), 2);
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileToString(dir_.File("recs.jsonl")));
  const std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"user\":\"cold-user\""));
  EXPECT_THAT(lines[0], HasSubstr("\"fallback\":true"));
  // The known user's line is what Recommend answers.
  RecommendQuery query;
  query.user = known;
  query.k = 3;
  ASSERT_OK_AND_ASSIGN(Recommendation rec, serving->Recommend(query));
  ASSERT_EQ(rec.items.size(), 3u);
  EXPECT_THAT(lines[1], HasSubstr(absl::StrCat("{\"item\":\"", rec.items[0].item, "\"")));
  EXPECT_THAT(lines[1], HasSubstr("\"fallback\":false"));

  // Bad requests.
  BatchRecommendRequest bad = b;
  bad.set_output_path("../outside.jsonl");
  EXPECT_THAT(jobs->Submit(bad), StatusIs(absl::StatusCode::kPermissionDenied));
  bad.set_output_path("no/such/folder/x.jsonl");
  EXPECT_THAT(jobs->Submit(bad), StatusIs(absl::StatusCode::kNotFound));
  bad = b;
  bad.set_format("xml");
  EXPECT_THAT(jobs->Submit(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("format")));
  bad = b;
  bad.set_model_name("nope");
  EXPECT_THAT(jobs->Submit(bad), StatusIs(absl::StatusCode::kNotFound));
  bad = b;
  bad.set_k(5000);
  EXPECT_THAT(jobs->Submit(bad), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("k")));
}

TEST_F(JobQueueTest, BadRequestsAreRejectedAtSubmit) {
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

TEST(ResolveOutputPathTest, ConfinesOutputToTheDataDirectoryOutsideTheServersState) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.File("out"));
  std::filesystem::create_directories(dir.File("models/m"));
  std::filesystem::create_directories(dir.File("events"));
  ASSERT_OK_AND_ASSIGN(std::string ok, ResolveOutputPath(dir.path(), "out/a.jsonl", "output_path"));
  EXPECT_EQ(ok, std::filesystem::weakly_canonical(dir.File("out")).string() + "/a.jsonl");
  for (const char* reserved : {"models/m/ACTIVE", "events/segment", "jobs/x", "./models/../events/x"}) {
    EXPECT_THAT(ResolveOutputPath(dir.path(), reserved, "output_path"),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("server's own state")))
        << reserved;
  }
  EXPECT_THAT(ResolveOutputPath(dir.path(), "../x.jsonl", "output_path"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("outside")));
  EXPECT_THAT(ResolveOutputPath(dir.path(), "nofolder/x.jsonl", "output_path"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ResolveOutputPath(dir.path(), "out", "output_path"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ResolveOutputPath(dir.path(), "", "output_path"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace recbandit::services

namespace recbandit::services {
namespace {

TEST_F(JobQueueTest, OnlyTheNewestKeepVersionsStayAfterEachJob) {
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
