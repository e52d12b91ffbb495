// Tests of variant assignment: deterministic per unit, proportional to the
// weights (a chi-square check), reshuffled by another salt.
#include "bandits/assignment.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"

namespace recbandit::bandits {
namespace {

TEST(AssignmentTest, VariantAssignmentIsDeterministicAndProportional) {
  const std::vector<double> weights = {1, 2, 7};
  const uint64_t salt = StableHash64("exp");
  std::vector<int64_t> counts(3, 0);
  constexpr int kUnits = 100000;
  for (int i = 0; i < kUnits; ++i) {
    const std::string unit = absl::StrCat("unit-", i);
    const int32_t v = AssignVariant(unit, salt, weights);
    ASSERT_EQ(v, AssignVariant(unit, salt, weights));
    ++counts[v];
  }
  // Pearson chi-square with 2 degrees of freedom; 13.8 is its 0.999 quantile.
  double chi2 = 0;
  for (int v = 0; v < 3; ++v) {
    const double expected = kUnits * weights[v] / 10.0;
    chi2 += (counts[v] - expected) * (counts[v] - expected) / expected;
  }
  EXPECT_LT(chi2, 13.8) << counts[0] << " " << counts[1] << " " << counts[2];
  // Another salt (experiment) reshuffles units.
  int same = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string unit = absl::StrCat("unit-", i);
    same += AssignVariant(unit, salt, {1, 1}) == AssignVariant(unit, StableHash64("x"), {1, 1});
  }
  EXPECT_NEAR(same, 500, 80);
}

}  // namespace
}  // namespace recbandit::bandits
