// Tests of the TrainParams <-> options bridge: round trips, defaults, the
// option names and validation messages.
#include "ranking/train_params.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::ranking {
namespace {

using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

TEST(TrainParamsTest, AlsRoundTrip) {
  AlsOptions o;
  o.factors = 7;
  o.solver = AlsOptions::Solver::kCholesky;
  o.cg_steps = 5;
  o.scale_regularization = true;
  o.seed = 42;
  o.threads = 2;
  const AlsOptions back = AlsOptionsFromParams(AlsOptionsToParams(o));
  EXPECT_EQ(back.factors, 7);
  EXPECT_EQ(back.solver, AlsOptions::Solver::kCholesky);
  EXPECT_EQ(back.cg_steps, 5);
  EXPECT_TRUE(back.scale_regularization);
  EXPECT_EQ(back.seed, 42u);
  EXPECT_EQ(back.threads, 2);
}

TEST(TrainParamsTest, BprRoundTripAndDefaults) {
  EXPECT_EQ(BprOptionsFromParams(BprOptionsToParams(BprOptions())).epochs, 100);
  BprOptions o;
  o.factors = 9;
  o.regularization = 0.25f;
  o.negative_sampling = BprOptions::Negatives::kPopularity;
  o.item_bias = true;
  o.compute_loss = true;
  const TrainParams params = BprOptionsToParams(o);
  EXPECT_EQ(params.algo(), BPR);
  EXPECT_EQ(params.bpr().negative_sampling(), "popularity");
  const BprOptions back = BprOptionsFromParams(params);
  EXPECT_EQ(back.factors, 9);
  EXPECT_EQ(back.regularization, 0.25f);
  EXPECT_EQ(back.negative_sampling, BprOptions::Negatives::kPopularity);
  EXPECT_TRUE(back.item_bias);
  EXPECT_TRUE(back.compute_loss);
}

TEST(TrainParamsTest, EmptyParamsFillEachLearnersDefaults) {
  TrainParams params;
  params.set_algo(ALS);
  EXPECT_EQ(FactorsOf(params), AlsOptions().factors);
  EXPECT_EQ(IterationsOf(params), AlsOptions().iterations);
  EXPECT_EQ(AlsOptionsFromParams(params).threads, 1);
  params.set_algo(BPR);
  EXPECT_EQ(IterationsOf(params), BprOptions().epochs);
}

TEST(TrainParamsTest, NamesParseBackAndUnknownNamesNameTheField) {
  for (auto s : {AlsOptions::Solver::kConjugateGradient, AlsOptions::Solver::kCholesky}) {
    ASSERT_OK_AND_ASSIGN(AlsOptions::Solver parsed, ParseSolver(SolverName(s), "solver"));
    EXPECT_EQ(parsed, s);
  }
  for (auto n : {BprOptions::Negatives::kUniform, BprOptions::Negatives::kPopularity}) {
    ASSERT_OK_AND_ASSIGN(BprOptions::Negatives parsed,
                         ParseNegatives(NegativesName(n), "negatives"));
    EXPECT_EQ(parsed, n);
  }
  ASSERT_OK_AND_ASSIGN(AlsOptions::Solver by_default, ParseSolver("", "x"));
  EXPECT_EQ(by_default, AlsOptions::Solver::kConjugateGradient);
  EXPECT_THAT(ParseSolver("lu", "--solver"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--solver must be cg or cholesky, got 'lu'")));
  EXPECT_THAT(ParseNegatives("hard", "--negative_sampling"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("--negative_sampling must be uniform or popularity")));
}

TEST(TrainParamsTest, ValidateNamesTheFieldAndBound) {
  TrainParams params;
  params.set_algo(ALS);
  params.mutable_als()->set_solver("qr");
  EXPECT_THAT(ValidateTrainParams(params),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params.als.solver")));
  params.mutable_als()->set_solver("cholesky");
  EXPECT_OK(ValidateTrainParams(params));
  params.mutable_als()->set_cg_steps(65);
  EXPECT_THAT(ValidateTrainParams(params),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cg_steps")));
  params.Clear();
  params.set_algo(BPR);
  params.mutable_als();
  EXPECT_THAT(ValidateTrainParams(params),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params.als set")));
  params.Clear();
  params.set_algo(BPR);
  params.set_threads(257);
  EXPECT_THAT(ValidateTrainParams(params),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("params.threads")));
}

}  // namespace
}  // namespace recbandit::ranking
