// Tests of bandits/features.h: dense-then-hashed layout, VW-style namespace
// hashing, action features, and the errors for bad input.
#include "bandits/features.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::IsOk;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

Context MakeContext(std::vector<float> dense) {
  Context c;
  for (float v : dense) c.add_dense(v);
  return c;
}

void AddFeature(Namespace* ns, const std::string& name, float value) {
  Feature* f = ns->add_features();
  f->set_name(name);
  f->set_value(value);
}

TEST(FeaturesTest, DenseFirstThenHashedSlots) {
  FeatureSpace space{.dense_dim = 2, .hash_bits = 4};
  ASSERT_OK(ValidateFeatureSpace(space));
  EXPECT_EQ(ContextLength(space), 2 + 16);
  Context context = MakeContext({0.5f, -1.0f});
  Namespace* user = context.add_namespaces();
  user->set_name("user");
  AddFeature(user, "device=ios", 0.0f);  // value 0/unset reads as 1
  AddFeature(user, "age", 31.0f);
  google::protobuf::RepeatedPtrField<Action> actions;
  actions.Add()->set_id("a");
  DecisionInput input;
  ASSERT_OK(BuildDecisionInput(space, context, actions, &input));
  std::vector<double> expected(18, 0.0);
  expected[0] = 0.5;
  expected[1] = -1.0;
  expected[2 + FeatureSlot("user", "device=ios", 4)] += 1.0;
  expected[2 + FeatureSlot("user", "age", 4)] += 31.0;
  EXPECT_EQ(input.context, expected);
  // The slot is StableHash64(name, salt = StableHash64(namespace)) mod 2^bits.
  EXPECT_EQ(FeatureSlot("user", "age", 4), StableHash64("age", StableHash64("user")) & 15);
  // The namespace is part of the hash.
  int differ = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string name = "f" + std::to_string(i);
    differ += FeatureSlot("user", name, 16) != FeatureSlot("item", name, 16);
  }
  EXPECT_GT(differ, 45);
}

TEST(FeaturesTest, ActionFeaturesAndBufferReuse) {
  FeatureSpace space{.dense_dim = 1, .hash_bits = 3};
  Context context = MakeContext({2.0f});
  google::protobuf::RepeatedPtrField<Action> actions;
  for (const char* id : {"x", "y"}) {
    Action* a = actions.Add();
    a->set_id(id);
    a->add_dense(1.5f);
    Namespace* ns = a->add_namespaces();
    ns->set_name("layout");
    AddFeature(ns, id, 2.0f);
  }
  DecisionInput input;
  ASSERT_OK(BuildDecisionInput(space, context, actions, &input));
  ASSERT_EQ(input.actions.size(), 2u);
  EXPECT_EQ(input.actions[1].id, "y");
  ASSERT_EQ(input.actions[1].features.size(), 1u + 8u);
  EXPECT_EQ(input.actions[1].features[0], 1.5);
  EXPECT_EQ(input.actions[1].features[1 + FeatureSlot("layout", "y", 3)], 2.0);
  // Rebuilding with fewer actions reuses the buffers and resizes.
  actions.RemoveLast();
  ASSERT_OK(BuildDecisionInput(space, context, actions, &input));
  EXPECT_EQ(input.actions.size(), 1u);
  // Span overload (LoggedDecision keeps std::vector<Action>).
  std::vector<Action> list(actions.begin(), actions.end());
  ASSERT_OK(BuildDecisionInput(space, context, absl::MakeConstSpan(list), &input));
  EXPECT_EQ(input.actions[0].id, "x");
}

TEST(FeaturesTest, WrongDenseLengthNamesFieldAndExpectedLength) {
  FeatureSpace space{.dense_dim = 8};
  google::protobuf::RepeatedPtrField<Action> actions;
  actions.Add()->set_id("a");
  DecisionInput input;
  EXPECT_THAT(BuildDecisionInput(space, MakeContext({1, 2, 3}), actions, &input),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("context.dense has 3 values; the experiment's "
                                 "context_dim is 8")));
}

TEST(FeaturesTest, RejectsBadInputWithClearErrors) {
  FeatureSpace space{.dense_dim = 1, .hash_bits = 0};
  google::protobuf::RepeatedPtrField<Action> actions;
  actions.Add()->set_id("a");
  DecisionInput input;
  Context nan = MakeContext({NAN});
  EXPECT_THAT(BuildDecisionInput(space, nan, actions, &input),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("context.dense[0]")));
  Context sparse = MakeContext({1});
  AddFeature(sparse.add_namespaces(), "f", 1);
  EXPECT_THAT(BuildDecisionInput(space, sparse, actions, &input),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hash_bits is 0")));
  space.hash_bits = 4;
  AddFeature(sparse.mutable_namespaces(0), "", 1);
  EXPECT_THAT(BuildDecisionInput(space, sparse, actions, &input),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("context.namespaces[0].features[1].name")));
  const Context ok = MakeContext({1});
  google::protobuf::RepeatedPtrField<Action> none;
  EXPECT_THAT(BuildDecisionInput(space, ok, none, &input),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("actions is empty")));
  google::protobuf::RepeatedPtrField<Action> dup;
  dup.Add()->set_id("a");
  dup.Add()->set_id("a");
  EXPECT_THAT(BuildDecisionInput(space, ok, dup, &input),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("duplicate")));
  google::protobuf::RepeatedPtrField<Action> many;  // > 16 actions: hash-set path
  for (int i = 0; i < 20; ++i) many.Add()->set_id("id" + std::to_string(i));
  ASSERT_OK(BuildDecisionInput(space, ok, many, &input));
  many[19].set_id("id3");
  EXPECT_THAT(BuildDecisionInput(space, ok, many, &input),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"id3\" is a duplicate")));
  google::protobuf::RepeatedPtrField<Action> ragged;
  ragged.Add()->set_id("a");
  ragged.Add()->set_id("b");
  ragged[1].add_dense(1.0f);
  EXPECT_THAT(BuildDecisionInput(space, ok, ragged, &input),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("actions[1].dense has 1 values; expected 0")));
  google::protobuf::RepeatedPtrField<Action> no_id;
  no_id.Add();
  EXPECT_THAT(BuildDecisionInput(space, ok, no_id, &input),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("actions[0].id")));
}

// HashContext is the path readers of logged data use: scattered into a
// vector it gives exactly BuildDecisionInput's context, collisions included,
// and it rejects what BuildDecisionInput rejects with the same message.
TEST(FeaturesTest, HashContextIsBuildDecisionInputsContext) {
  Rng rng(5);
  for (int bits : {2, 6, 16}) {
    FeatureSpace space{.dense_dim = 3, .hash_bits = bits};
    Context context = MakeContext({0.25f, -2.0f, 7.0f});
    for (const char* name : {"user", "item", "slot"}) {
      Namespace* ns = context.add_namespaces();
      ns->set_name(name);
      for (int j = 0; j < 12; ++j) {  // 36 features in 4 slots at bits = 2: collisions
        AddFeature(ns, "f" + std::to_string(j), j % 3 == 0 ? 0.0f : rng.Normal());
      }
    }
    google::protobuf::RepeatedPtrField<Action> actions;
    actions.Add()->set_id("a");
    DecisionInput input;
    ASSERT_OK(BuildDecisionInput(space, context, actions, &input));
    std::vector<HashedFeature> sparse;
    ASSERT_OK(HashContext(space, context, &sparse));
    ASSERT_EQ(sparse.size(), 36u);
    std::vector<double> scattered(ContextLength(space), 0.0);
    for (int i = 0; i < 3; ++i) scattered[i] = context.dense(i);
    for (const HashedFeature& f : sparse) {
      ASSERT_LT(f.slot, 1u << bits);
      scattered[3 + f.slot] += f.value;
    }
    EXPECT_EQ(scattered, input.context) << "bits " << bits;
    EXPECT_EQ(sparse[0].slot, FeatureSlot("user", "f0", bits));
    EXPECT_EQ(sparse[0].value, 1.0);  // 0 reads as 1
  }
  FeatureSpace space{.dense_dim = 2, .hash_bits = 0};
  std::vector<HashedFeature> sparse = {{1, 1.0}};
  EXPECT_THAT(HashContext(space, MakeContext({1}), &sparse),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("context.dense has 1 values; the experiment's context_dim is 2")));
  EXPECT_TRUE(sparse.empty());
  Context with_sparse = MakeContext({1, 2});
  AddFeature(with_sparse.add_namespaces(), "f", 1);
  EXPECT_THAT(HashContext(space, with_sparse, &sparse),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hash_bits is 0")));
}

TEST(FeaturesTest, ValidatesHashBitsAndDims) {
  EXPECT_THAT(ValidateFeatureSpace({.dense_dim = 0, .hash_bits = 17}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hash_bits")));
  EXPECT_THAT(ValidateFeatureSpace({.dense_dim = 0, .hash_bits = -1}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hash_bits")));
  EXPECT_THAT(ValidateFeatureSpace({.dense_dim = 5000}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("context_dim")));
  EXPECT_THAT(ValidateFeatureSpace({.action_hash_bits = 20}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("action_hash_bits")));
  EXPECT_OK(ValidateFeatureSpace({.dense_dim = 4096, .hash_bits = 16}));
  ExperimentConfig config;
  config.set_context_dim(7);
  config.set_hash_bits(3);
  const FeatureSpace space = FeatureSpaceFromConfig(config);
  EXPECT_EQ(ContextLength(space), 7 + 8);
}

}  // namespace
}  // namespace recbandit::bandits
