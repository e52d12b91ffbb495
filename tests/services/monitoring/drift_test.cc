// Tests for services/monitoring/drift.h: PSI and Jensen-Shannon against
// hand-computed values, the bins, the live window, and the monitor on
// seeded stationary traffic (no alert) and after planted shifts (an alert
// within a stated number of events), for a model and for an experiment.
#include "services/monitoring/drift.h"

#include <cmath>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/file_util.h"
#include "proto/core/random.h"
#include "retrieval/item_index.h"
#include "services/serving/serving_model.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

// ---- statistics: known answers computed by hand

TEST(DriftStatsTest, PsiAndJsOnTwoBins) {
  // e = (.5, .5), a = (.25, .75): PSI = -.25 ln .5 + .25 ln 1.5 = .25 ln 3.
  EXPECT_NEAR(*Psi({50, 50}, {25, 75}), 0.25 * std::log(3.0), 1e-12);
  // m = (.375, .625): JS = (KL(p||m) + KL(q||m)) / 2, base 2.
  const double kl_p = 0.5 * std::log2(0.5 / 0.375) + 0.5 * std::log2(0.5 / 0.625);
  const double kl_q = 0.25 * std::log2(0.25 / 0.375) + 0.75 * std::log2(0.75 / 0.625);
  EXPECT_NEAR(*JensenShannon({50, 50}, {25, 75}), 0.5 * (kl_p + kl_q), 1e-12);
  EXPECT_NEAR(0.5 * (kl_p + kl_q), 0.048795, 1e-6);
}

TEST(DriftStatsTest, EmptyBinUsesEpsilon) {
  // e = (1, 0 -> 1e-4), a = (.5, .5): (.5 - 1) ln .5 + (.5 - 1e-4) ln(.5 / 1e-4).
  const double expected = 0.5 * std::log(2.0) + (0.5 - 1e-4) * std::log(0.5 / 1e-4);
  EXPECT_NEAR(*Psi({10, 0}, {5, 5}), expected, 1e-12);
  EXPECT_NEAR(expected, 4.604318, 1e-6);
  // m = (.75, .25): .5 log2(4/3) + .25 log2(2/3) + .25 log2 2.
  EXPECT_NEAR(*JensenShannon({10, 0}, {5, 5}),
              0.5 * std::log2(4.0 / 3) + 0.25 * std::log2(2.0 / 3) + 0.25, 1e-12);
  // Disjoint supports: JS is exactly 1 bit.
  EXPECT_NEAR(*JensenShannon({1, 0}, {0, 1}), 1.0, 1e-12);
}

TEST(DriftStatsTest, ThreeBinsAndIdentity) {
  // e = (.2, .3, .5), a = (.3, .3, .4).
  const double expected = 0.1 * std::log(1.5) + 0 - 0.1 * std::log(0.8);
  EXPECT_NEAR(*Psi({20, 30, 50}, {30, 30, 40}), expected, 1e-12);
  EXPECT_NEAR(expected, 0.062861, 1e-6);
  EXPECT_DOUBLE_EQ(*Psi({3, 4, 5}, {30, 40, 50}), 0.0);
  EXPECT_DOUBLE_EQ(*JensenShannon({3, 4, 5}, {30, 40, 50}), 0.0);
}

TEST(DriftStatsTest, BadCountsAreRefused) {
  EXPECT_THAT(Psi({1, 2}, {1, 2, 3}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Psi({0, 0}, {1, 2}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(JensenShannon({1, -1}, {1, 2}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(JensenShannon({}, {}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DriftStatsTest, ThresholdsNameTheFieldAndBound) {
  EXPECT_TRUE(ValidateThresholds({0.1, 0.2}, "w", "a").ok());
  EXPECT_THAT(ValidateThresholds({0, 0.2}, "--drift_psi_warn", "--drift_psi_alert"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--drift_psi_warn must be in (0, 10]")));
  EXPECT_THAT(ValidateThresholds({0.1, 11}, "w", "psi_alert"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("psi_alert must be in")));
  EXPECT_THAT(ValidateThresholds({0.3, 0.2}, "psi_warn", "psi_alert"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("psi_warn must be <= psi_alert")));
  EXPECT_FALSE(ValidateThresholds({NAN, 0.2}, "w", "a").ok());
}

// ---- bins and the window

TEST(DriftHistogramTest, Log2BinsOfCounts) {
  const DriftHistogram h = Log2Histogram("x");
  EXPECT_EQ(h.counts_size(), h.edges_size() + 1);
  EXPECT_EQ(NumericBin(h, 0), 0);
  EXPECT_EQ(NumericBin(h, 1), 1);
  EXPECT_EQ(NumericBin(h, 2), 2);
  EXPECT_EQ(NumericBin(h, 3), 2);
  EXPECT_EQ(NumericBin(h, 4), 3);
  EXPECT_EQ(NumericBin(h, 1e9), h.edges_size());
}

TEST(DriftHistogramTest, DecilesOfOneToHundred) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  const DriftHistogram h = QuantileHistogram("x", v);
  ASSERT_EQ(h.edges_size(), 9);
  EXPECT_EQ(h.edges(0), 11);  // values[100 * 1 / 10]
  for (int64_t c : h.counts()) EXPECT_GE(c, 9);
  int64_t total = 0;
  for (int64_t c : h.counts()) total += c;
  EXPECT_EQ(total, 100);
  // A constant feature has one edge (repeated quantiles merged).
  EXPECT_EQ(QuantileHistogram("c", std::vector<double>(50, 2.0)).edges_size(), 1);
}

TEST(DriftHistogramTest, CategoriesEndWithOther) {
  DriftHistogram h;
  h.add_categories("a");
  h.add_categories("b");
  h.add_categories("");
  EXPECT_EQ(CategoryBin(h, "b"), 1);
  EXPECT_EQ(CategoryBin(h, "zzz"), 2);
}

TEST(WindowedHistogramTest, KeepsTheLastCapacityObservations) {
  WindowedHistogram w(3, 4);
  for (int b : {0, 0, 1, 2}) w.Add(b);
  EXPECT_THAT(w.counts(), ::testing::ElementsAre(2, 1, 1));
  w.Add(2);  // evicts the first 0
  w.Add(2);  // evicts the second 0
  EXPECT_THAT(w.counts(), ::testing::ElementsAre(0, 1, 3));
  w.Add(7);  // out of range: ignored
  EXPECT_EQ(w.size(), 4);
}

// ---- a model: stationary traffic, then planted shifts

constexpr int32_t kDim = 8;

// 400 users, 300 items; user u has 1 + u % 24 items, drawn with popularity
// skew (item = floor(300 * U^2)).
std::shared_ptr<const ServingModel> SkewedModel(int64_t version) {
  Rng rng(5);
  ranking::IdMap users, items;
  const int32_t nu = 400, ni = 300;
  std::vector<float> uf(nu * kDim), vf(ni * kDim);
  for (float& x : uf) x = static_cast<float>(rng.Normal());
  for (float& x : vf) x = static_cast<float>(rng.Normal());
  for (int32_t i = 0; i < ni; ++i) items.GetOrAdd("i" + std::to_string(i));
  ranking::CsrMatrix seen;
  seen.rows = nu;
  seen.cols = ni;
  seen.indptr.push_back(0);
  for (int32_t u = 0; u < nu; ++u) {
    users.GetOrAdd("u" + std::to_string(u));
    std::set<int32_t> s;
    while (static_cast<int32_t>(s.size()) < 1 + u % 24) {
      const double x = rng.Uniform();
      s.insert(static_cast<int32_t>(ni * x * x));
    }
    for (int32_t i : s) {
      seen.indices.push_back(i);
      seen.values.push_back(1.f);
    }
    seen.indptr.push_back(static_cast<int64_t>(seen.indices.size()));
  }
  auto model = ranking::FactorModel::Create(std::move(users), std::move(items), kDim,
                                            std::move(uf), std::move(vf), {}, ModelManifest(),
                                            &seen);
  EXPECT_TRUE(model.ok()) << model.status();
  auto index = retrieval::BuildItemIndex("Exact", model->item_factors(), kDim, {});
  EXPECT_TRUE(index.ok()) << index.status();
  auto serving =
      ServingModel::Create(*std::move(model), std::move(index).value(), "movies", version);
  EXPECT_TRUE(serving.ok()) << serving.status();
  return *std::move(serving);
}

// Draws training interactions uniformly (so users as often as they are
// active), as stationary traffic does.
struct Traffic {
  explicit Traffic(const ServingModel& m, uint64_t seed) : model(m), rng(seed) {
    for (int32_t u = 0; u < m.model().num_users(); ++u) {
      for (int32_t i : m.model().SeenItems(u)) pairs.emplace_back(u, i);
    }
  }
  Interaction Next() {
    const auto [u, i] = pairs[rng.UniformInt(pairs.size())];
    Interaction x;
    x.set_user(model.model().users().Name(u));
    x.set_item(model.model().items().Name(i));
    return x;
  }
  google::protobuf::RepeatedPtrField<ScoredItem> Slate(const std::string& user) {
    RecommendQuery q;
    q.user = user;
    q.k = 10;
    google::protobuf::RepeatedPtrField<ScoredItem> out;
    const Recommendation r = model.Recommend(q).value();
    for (const ScoredItemId& s : r.items) {
      ScoredItem* item = out.Add();
      item->set_item(s.item);
      item->set_score(s.score);
    }
    return out;
  }
  const ServingModel& model;
  Rng rng;
  std::vector<std::pair<int32_t, int32_t>> pairs;
};

google::protobuf::RepeatedPtrField<Interaction> One(const Interaction& x) {
  google::protobuf::RepeatedPtrField<Interaction> out;
  *out.Add() = x;
  return out;
}

DriftState FeatureState(const DriftReport& r, const std::string& feature) {
  for (const FeatureDrift& f : r.features()) {
    if (f.feature() == feature) return f.state();
  }
  return DRIFT_STATE_UNSPECIFIED;
}

GetDriftReportRequest ForModel(const std::string& name) {
  GetDriftReportRequest r;
  r.set_model_name(name);
  return r;
}

TEST(DriftMonitorTest, ModelStationaryThenPlantedShifts) {
  ScratchDir dir;
  auto model = SkewedModel(3);
  DriftMonitorOptions options;
  options.window = 1000;  // 100 slates: a slate's 10 scores are far from independent
  ASSERT_OK_AND_ASSIGN(auto monitor, DriftMonitor::Create(options));
  ASSERT_OK(monitor->CaptureModel(model, dir.path()));
  // The baseline is stored beside the version and read back as it is.
  DriftBaseline stored;
  ASSERT_TRUE(stored.ParseFromString(*ReadFileToString(ModelBaselinePath(dir.path()))));
  EXPECT_EQ(stored.model_version(), 3);
  ASSERT_EQ(stored.features_size(), 4);
  EXPECT_EQ(stored.features(0).feature(), "score");
  EXPECT_EQ(stored.features(3).feature(), "item_popularity");

  // Stationary: 4000 interactions and 800 slates (8000 scores) drawn with
  // another seed than the baseline's sample. No feature alerts, checked
  // every 20 steps once the windows are full.
  Traffic traffic(*model, 99);
  for (int step = 0; step < 4000; ++step) {
    const Interaction x = traffic.Next();
    monitor->ObserveInteractions(One(x));
    if (step % 5 == 0) {
      const google::protobuf::RepeatedPtrField<ScoredItem> slate = traffic.Slate(traffic.Next().user());
      monitor->ObserveRecommend("movies", 3, false, slate);
    }
    if (step >= 1000 && step % 20 == 0) {
      ASSERT_OK_AND_ASSIGN(DriftReport r, monitor->Report(ForModel("movies")));
      ASSERT_NE(r.state(), DRIFT_STATE_ALERT) << "step " << step << ": " << r.DebugString();
    }
  }
  ASSERT_OK_AND_ASSIGN(DriftReport calm, monitor->Report(ForModel("movies")));
  for (const FeatureDrift& f : calm.features()) {
    EXPECT_LT(f.psi(), 0.2) << f.feature();
    EXPECT_EQ(f.live_count(), 1000) << f.feature();
  }
  // A slate of another version or a fallback slate is not counted.
  monitor->ObserveRecommend("movies", 2, false, traffic.Slate("u1"));
  monitor->ObserveRecommend("movies", 3, true, traffic.Slate("u1"));

  // Planted shift 1: interactions on items the model never saw. The
  // item_popularity feature alerts within 60 such events (window 1000:
  // a share f in the empty bin adds about f ln(f / 1e-4)).
  int alerted_at = -1;
  for (int n = 1; n <= 1000 && alerted_at < 0; ++n) {
    Interaction x = traffic.Next();
    x.set_item("new" + std::to_string(n));
    monitor->ObserveInteractions(One(x));
    ASSERT_OK_AND_ASSIGN(DriftReport r, monitor->Report(ForModel("movies")));
    if (FeatureState(r, "item_popularity") == DRIFT_STATE_ALERT) alerted_at = n;
  }
  EXPECT_GT(alerted_at, 20);  // f = 0.02 gives about 0.11: not yet
  EXPECT_LE(alerted_at, 60);

  // Planted shift 2: scores three times larger. "score" alerts within 30
  // slates (300 scores of a 1000 window).
  alerted_at = -1;
  for (int n = 1; n <= 100 && alerted_at < 0; ++n) {
    google::protobuf::RepeatedPtrField<ScoredItem> slate = traffic.Slate(traffic.Next().user());
    for (ScoredItem& s : slate) s.set_score(3 * s.score());
    monitor->ObserveRecommend("movies", 3, false, slate);
    ASSERT_OK_AND_ASSIGN(DriftReport r, monitor->Report(ForModel("movies")));
    if (FeatureState(r, "score") == DRIFT_STATE_ALERT) {
      alerted_at = n;
      EXPECT_EQ(r.state(), DRIFT_STATE_ALERT);
    }
  }
  EXPECT_GT(alerted_at, 0);
  EXPECT_LE(alerted_at, 30);
}

TEST(DriftMonitorTest, StoredModelBaselineIsReused) {
  ScratchDir dir;
  auto model = SkewedModel(1);
  DriftMonitorOptions options;
  options.seed = 7;
  ASSERT_OK_AND_ASSIGN(auto first, DriftMonitor::Create(options));
  ASSERT_OK(first->CaptureModel(model, dir.path()));
  const std::string bytes = *ReadFileToString(ModelBaselinePath(dir.path()));
  options.seed = 8;  // would give another sample: the stored one wins
  ASSERT_OK_AND_ASSIGN(auto second, DriftMonitor::Create(options));
  ASSERT_OK(second->CaptureModel(model, dir.path()));
  EXPECT_EQ(*ReadFileToString(ModelBaselinePath(dir.path())), bytes);
  ASSERT_OK_AND_ASSIGN(DriftReport r, second->Report(ForModel("movies")));
  EXPECT_EQ(r.state(), DRIFT_STATE_INSUFFICIENT_DATA);  // no traffic yet
}

// ---- an experiment: two dense features, five actions, Bernoulli rewards

struct Decisions {
  explicit Decisions(uint64_t seed) : rng(seed) {}
  void Step(DriftMonitor& m, double shift) {
    Context c;
    c.add_dense(static_cast<float>(rng.Normal() + shift));
    c.add_dense(static_cast<float>(rng.Normal()));
    m.ObserveDecision("layout", c, "a" + std::to_string(rng.UniformInt(5)));
    m.ObserveReward("layout", rng.Uniform() < 0.3 ? 1.0 : 0.0);
  }
  Rng rng;
};

GetDriftReportRequest ForExperiment(const std::string& name) {
  GetDriftReportRequest r;
  r.set_experiment(name);
  return r;
}

TEST(DriftMonitorTest, ExperimentStationaryThenContextShift) {
  ScratchDir dir;
  DriftMonitorOptions options;
  options.window = 200;
  options.baseline_events = 1000;
  options.data_dir = dir.path();
  ASSERT_OK_AND_ASSIGN(auto monitor, DriftMonitor::Create(options));
  Decisions d(11);
  for (int i = 0; i < 999; ++i) d.Step(*monitor, 0);
  EXPECT_FALSE(PathExists(ExperimentBaselinePath(dir.path(), "layout")));
  d.Step(*monitor, 0);  // the 1000th decision and reward freeze the baseline
  ASSERT_TRUE(PathExists(ExperimentBaselinePath(dir.path(), "layout")));
  // Stationary: 2000 more decisions, a report every 10 once the window holds
  // 200: never an alert.
  for (int i = 1; i <= 2000; ++i) {
    d.Step(*monitor, 0);
    if (i >= 200 && i % 10 == 0) {
      ASSERT_OK_AND_ASSIGN(DriftReport r, monitor->Report(ForExperiment("layout")));
      ASSERT_NE(r.state(), DRIFT_STATE_ALERT) << "decision " << i << ": " << r.DebugString();
    }
  }
  ASSERT_OK_AND_ASSIGN(DriftReport calm, monitor->Report(ForExperiment("layout")));
  std::vector<std::string> names;
  for (const FeatureDrift& f : calm.features()) names.push_back(f.feature());
  EXPECT_THAT(names, ::testing::ElementsAre("context.dense[0]", "context.dense[1]",
                                            "context.sparse_features", "action", "reward"));
  // Planted shift: dense[0] moves by 3 sd. PSI of a window with a share f
  // shifted into the top decile is about 0.9 f (ln(1 + 9f) - ln(1 - f)),
  // 0.2 at f = 0.19: an alert within 60 decisions (window 200).
  int alerted_at = -1;
  for (int n = 1; n <= 200 && alerted_at < 0; ++n) {
    d.Step(*monitor, 3);
    ASSERT_OK_AND_ASSIGN(DriftReport r, monitor->Report(ForExperiment("layout")));
    if (r.state() == DRIFT_STATE_ALERT) {
      alerted_at = n;
      EXPECT_EQ(FeatureState(r, "context.dense[0]"), DRIFT_STATE_ALERT);
      EXPECT_NE(FeatureState(r, "context.dense[1]"), DRIFT_STATE_ALERT);
    }
  }
  EXPECT_GT(alerted_at, 25);
  EXPECT_LE(alerted_at, 60);

  // A new monitor over the same data directory reads the stored baseline.
  ASSERT_OK_AND_ASSIGN(auto again, DriftMonitor::Create(options));
  ASSERT_OK_AND_ASSIGN(DriftReport fresh, again->Report(ForExperiment("layout")));
  ASSERT_EQ(fresh.features_size(), 5);
  EXPECT_EQ(fresh.features(0).baseline_count(), 1000);
  EXPECT_EQ(fresh.features(4).baseline_count(), 1000);
  EXPECT_EQ(fresh.features(0).live_count(), 0);
}

TEST(DriftMonitorTest, BadRequests) {
  DriftMonitorOptions options;
  options.experiment_exists = [](const std::string& name) {
    return name == "known" ? absl::OkStatus() : absl::NotFoundError("unknown experiment");
  };
  ASSERT_OK_AND_ASSIGN(auto monitor, DriftMonitor::Create(options));
  EXPECT_THAT(monitor->Report(GetDriftReportRequest()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("exactly one")));
  EXPECT_THAT(monitor->Report(ForExperiment("other")), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(monitor->Report(ForModel("nothing")), StatusIs(absl::StatusCode::kNotFound));
  GetDriftReportRequest r = ForExperiment("known");
  r.set_psi_alert(0.05);  // below the default warn 0.1
  EXPECT_THAT(monitor->Report(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("psi_warn must be <= psi_alert")));
  r.set_psi_alert(-1);
  EXPECT_THAT(monitor->Report(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("psi_alert must be in (0, 10]")));
  ASSERT_OK_AND_ASSIGN(DriftReport known, monitor->Report(ForExperiment("known")));
  EXPECT_EQ(known.state(), DRIFT_STATE_INSUFFICIENT_DATA);
  DriftMonitorOptions bad;
  bad.window = 10;
  EXPECT_THAT(DriftMonitor::Create(bad), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("window must be in [100, 1000000]")));
}

}  // namespace
}  // namespace recbandit::services
