// Tests of bandits/ope/reward_features.h: the reward model's features are the
// policies' DecisionInput::context (bandits/features.h) without the columns no
// round uses. Oracle: BuildDecisionInput on the same contexts.
#include "bandits/ope/reward_features.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

void AddFeature(Namespace* ns, const std::string& name, float value) {
  Feature* f = ns->add_features();
  f->set_name(name);
  f->set_value(value);
}

TEST(RewardFeatureBuilderTest, IsTheDecisionInputContextWithoutUnusedColumns) {
  Rng rng(11);
  for (int bits : {3, 12}) {  // 3: many collisions; 12: almost none
    const FeatureSpace space{.dense_dim = 2, .hash_bits = bits};
    std::vector<Context> contexts;
    for (int i = 0; i < 40; ++i) {
      Context c;
      c.add_dense(static_cast<float>(i));
      c.add_dense(rng.Normal());
      Namespace* user = c.add_namespaces();
      user->set_name("user");
      AddFeature(user, "country=" + std::to_string(i % 5), 0.0f);  // reads as 1
      if (i % 2 == 0) AddFeature(user, "age", 20.0f + i);
      if (i % 7 == 0) {
        Namespace* item = c.add_namespaces();
        item->set_name("item");
        AddFeature(item, "category=shoes", 1.0f);
        AddFeature(item, "price", 9.5f);
      }
      contexts.push_back(c);
    }
    RewardFeatureBuilder builder(space);
    for (const Context& c : contexts) ASSERT_OK(builder.Add(c));
    EXPECT_EQ(builder.rows(), 40);
    int32_t dim = 0;
    std::vector<float> features;
    ASSERT_OK(builder.Finish(&dim, &features));
    EXPECT_EQ(builder.rows(), 0);
    const std::vector<uint32_t>& slots = builder.sparse_slots();
    ASSERT_EQ(dim, 2 + static_cast<int32_t>(slots.size()));
    ASSERT_EQ(features.size(), 40u * dim);
    for (size_t j = 1; j < slots.size(); ++j) EXPECT_LT(slots[j - 1], slots[j]);
    // Oracle: the full vector a policy sees, through BuildDecisionInput.
    google::protobuf::RepeatedPtrField<Action> actions;
    actions.Add()->set_id("a");
    std::vector<bool> used(1 << bits, false);
    DecisionInput input;
    for (int i = 0; i < 40; ++i) {
      ASSERT_OK(BuildDecisionInput(space, contexts[i], actions, &input));
      EXPECT_EQ(features[i * dim], input.context[0]);
      EXPECT_EQ(features[i * dim + 1], static_cast<float>(input.context[1]));
      for (size_t j = 0; j < slots.size(); ++j) {
        EXPECT_EQ(features[i * dim + 2 + j], static_cast<float>(input.context[2 + slots[j]]))
            << "bits " << bits << " round " << i << " slot " << slots[j];
      }
      for (int s = 0; s < (1 << bits); ++s) used[s] = used[s] || input.context[2 + s] != 0;
    }
    // The kept slots are exactly those some round uses.
    std::vector<uint32_t> expected;
    for (int s = 0; s < (1 << bits); ++s) {
      if (used[s]) expected.push_back(s);
    }
    EXPECT_EQ(slots, expected);
  }
}

TEST(RewardFeatureBuilderTest, DenseOnlyAndErrors) {
  RewardFeatureBuilder dense({.dense_dim = 1, .hash_bits = 0});
  Context c;
  c.add_dense(3.0f);
  ASSERT_OK(dense.Add(c));
  int32_t dim = -1;
  std::vector<float> features;
  ASSERT_OK(dense.Finish(&dim, &features));
  EXPECT_EQ(dim, 1);
  EXPECT_EQ(features, std::vector<float>{3.0f});
  // What BuildDecisionInput rejects, Add rejects with the same field.
  Namespace* ns = c.add_namespaces();
  ns->set_name("user");
  AddFeature(ns, "x", 1.0f);
  EXPECT_THAT(dense.Add(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("hash_bits is 0")));
  RewardFeatureBuilder hashed({.dense_dim = 1, .hash_bits = 4});
  AddFeature(ns, std::string(300, 'n'), 1.0f);
  EXPECT_THAT(hashed.Add(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("context.namespaces[0].features[1].name")));
  c.clear_dense();
  EXPECT_THAT(hashed.Add(c), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("context.dense has 0 values")));
  EXPECT_EQ(hashed.rows(), 0);
}

}  // namespace
}  // namespace recbandit::bandits
