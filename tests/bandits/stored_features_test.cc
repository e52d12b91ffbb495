// Tests of bandits/stored_features: name parsing and bounds, the encoding of
// stored values (known answers, the missing-value rule), and Decide with
// stored features: the log holds exactly the values used, a later update is
// seen by the next decision only, and replaying the logged context through
// the policy gives the logged pmf.
#include "bandits/stored_features.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bandits/experiment.h"
#include "bandits/features.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

// A catalog in memory. Thread-safe.
class MapSource : public AttributeSource {
 public:
  void PutUser(CatalogUser u) {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, v] : u.numbers()) fields_[name] = true;
    users_[u.user()] = std::move(u);
  }
  void PutItem(CatalogItem i) {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, v] : i.numbers()) fields_[name] = true;
    items_[i.item()] = std::move(i);
  }
  std::optional<CatalogUser> GetUser(const std::string& user) const override {
    absl::MutexLock lock(&mu_);
    auto it = users_.find(user);
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<CatalogItem> GetItem(const std::string& item) const override {
    absl::MutexLock lock(&mu_);
    auto it = items_.find(item);
    if (it == items_.end()) return std::nullopt;
    return it->second;
  }
  bool HasNumericField(const std::string& name) const override {
    absl::MutexLock lock(&mu_);
    return fields_.count(name) > 0;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, CatalogUser> users_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CatalogItem> items_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, bool> fields_ ABSL_GUARDED_BY(mu_);
};

google::protobuf::RepeatedPtrField<std::string> Names(std::vector<std::string> names) {
  google::protobuf::RepeatedPtrField<std::string> out;
  for (std::string& n : names) *out.Add() = std::move(n);
  return out;
}

// Returns "name=value" per feature of `ns`, in order.
std::vector<std::string> Dump(const Namespace& ns) {
  std::vector<std::string> out;
  for (const Feature& f : ns.features()) out.push_back(absl::StrCat(f.name(), "=", f.value()));
  return out;
}

CatalogUser Alice(double age) {
  CatalogUser u;
  u.set_user("alice");
  u.add_categories("jazz");
  u.add_categories("rock");
  (*u.mutable_numbers())["age"] = age;
  (*u.mutable_numbers())["visits"] = 0;
  return u;
}

TEST(StoredFeaturesTest, ParsesNamesAndRejectsBadOnes) {
  ASSERT_OK_AND_ASSIGN(StoredFeatureSpec spec,
                       ParseStoredFeatures(Names({"user.age", "item.category", "user.tag"})));
  ASSERT_EQ(spec.features.size(), 3u);
  EXPECT_TRUE(spec.any_user);
  EXPECT_TRUE(spec.any_item);
  EXPECT_EQ(spec.features[0].field, "age");
  EXPECT_EQ(spec.features[0].kind, StoredFeature::Kind::kNumber);
  EXPECT_EQ(spec.features[1].entity, StoredFeature::Entity::kItem);
  EXPECT_EQ(spec.features[1].kind, StoredFeature::Kind::kCategory);
  EXPECT_EQ(spec.features[2].kind, StoredFeature::Kind::kTag);

  std::vector<std::string> many;
  for (int i = 0; i <= kMaxStoredFeatures; ++i) many.push_back(absl::StrCat("user.f", i));
  EXPECT_THAT(ParseStoredFeatures(Names(many)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stored_features has 33 names; at most 32")));
  EXPECT_THAT(ParseStoredFeatures(Names({"user." + std::string(65, 'a')})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stored_features[0] is 70 bytes; at most 69")));
  EXPECT_THAT(ParseStoredFeatures(Names({"user.age", "price"})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stored_features[1] 'price' must be \"user.<field>\"")));
  EXPECT_THAT(ParseStoredFeatures(Names({"item.9lives"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the field must be")));
  EXPECT_THAT(ParseStoredFeatures(Names({"item.created"})),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("the field must be")));
  EXPECT_THAT(ParseStoredFeatures(Names({"user.age", "user.age"})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stored_features[1] 'user.age' repeats stored_features[0]")));
}

TEST(StoredFeaturesTest, EncodesValuesWithTheMissingRule) {
  ASSERT_OK_AND_ASSIGN(StoredFeatureSpec spec,
                       ParseStoredFeatures(Names({"user.age", "user.visits", "user.height",
                                                  "user.category", "user.tag", "item.price"})));
  const CatalogUser alice = Alice(31.5);
  google::protobuf::RepeatedPtrField<Namespace> out;
  ASSERT_OK(AppendStoredFeatures(spec, StoredFeature::Entity::kUser, &alice, "user alice", &out));
  ASSERT_EQ(out.size(), 1);
  EXPECT_EQ(out[0].name(), "user");
  // age as stored; visits stored as 0 adds nothing; height absent; two
  // categories; no tags.
  EXPECT_THAT(Dump(out[0]), ::testing::ElementsAre("age=31.5", "height:missing=1",
                                                   "category=jazz=1", "category=rock=1",
                                                   "tag:missing=1"));
  // No record at all: every attribute missing.
  google::protobuf::RepeatedPtrField<Namespace> none;
  ASSERT_OK(AppendStoredFeatures<CatalogUser>(spec, StoredFeature::Entity::kUser, nullptr,
                                              "user bob", &none));
  ASSERT_EQ(none.size(), 1);
  EXPECT_THAT(Dump(none[0]),
              ::testing::ElementsAre("age:missing=1", "visits:missing=1", "height:missing=1",
                                     "category:missing=1", "tag:missing=1"));
  // A value beyond float range is refused, naming the record and field.
  google::protobuf::RepeatedPtrField<Namespace> big;
  const CatalogUser huge = Alice(1e39);
  EXPECT_THAT(AppendStoredFeatures(spec, StoredFeature::Entity::kUser, &huge, "user alice", &big),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("user alice age = 1e+39 does not fit a float")));
}

TEST(StoredFeaturesTest, ApplyReadsUserAndEachActionsItem) {
  MapSource source;
  source.PutUser(Alice(40));
  CatalogItem shoe;
  shoe.set_item("shoe");
  (*shoe.mutable_numbers())["price"] = 19.25;
  shoe.add_categories("shoes");
  source.PutItem(shoe);
  ASSERT_OK_AND_ASSIGN(StoredFeatureSpec spec,
                       ParseStoredFeatures(Names({"user.age", "item.price", "item.category"})));
  Context context;
  context.add_dense(0.5f);
  google::protobuf::RepeatedPtrField<Action> actions;
  actions.Add()->set_id("shoe");
  actions.Add()->set_id("unknown-item");
  ASSERT_OK(ApplyStoredFeatures(spec, source, "alice", &context, &actions));
  ASSERT_EQ(context.namespaces_size(), 1);
  EXPECT_THAT(Dump(context.namespaces(0)), ::testing::ElementsAre("age=40"));
  ASSERT_EQ(actions[0].namespaces_size(), 1);
  EXPECT_EQ(actions[0].namespaces(0).name(), "item");
  EXPECT_THAT(Dump(actions[0].namespaces(0)),
              ::testing::ElementsAre("price=19.25", "category=shoes=1"));
  EXPECT_THAT(Dump(actions[1].namespaces(0)),
              ::testing::ElementsAre("price:missing=1", "category:missing=1"));

  // The values land in the slots BuildDecisionInput hashes them to.
  FeatureSpace space;
  space.dense_dim = 1;
  space.hash_bits = 8;
  DecisionInput input;
  ASSERT_OK(BuildDecisionInput(space, context, actions, &input));
  double sum = 0;
  for (double v : input.context) sum += v;
  EXPECT_EQ(input.context[1 + FeatureSlot("user", "age", 8)], 40.0);
  EXPECT_EQ(sum, 40.5);
  EXPECT_EQ(input.actions[0].features[FeatureSlot("item", "price", 8)], 19.25);

  // Errors: unknown numeric field, user attributes without a user.
  ASSERT_OK_AND_ASSIGN(StoredFeatureSpec typo, ParseStoredFeatures(Names({"user.agee"})));
  EXPECT_THAT(ApplyStoredFeatures(typo, source, "alice", &context, &actions),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("stored_features[0] \"user.agee\": no user or item has")));
  EXPECT_THAT(ApplyStoredFeatures(spec, source, "", &context, &actions),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unit_id is required")));
}

ExperimentConfig LinearConfig() {
  ExperimentConfig c;
  c.set_name("stored");
  c.set_hash_bits(4);
  Variant* v = c.add_variants();
  v->set_name("lin");
  v->set_policy_spec("linucb:alpha=1,model=shared");
  v->set_traffic_weight(1);
  return c;
}

DecideRequest StoredRequest(const std::string& event_id) {
  DecideRequest r;
  r.set_experiment("stored");
  r.set_event_id(event_id);
  r.set_unit_id("alice");
  r.add_stored_features("user.age");
  r.add_stored_features("item.price");
  for (const char* id : {"shoe", "hat", "bag"}) r.add_actions()->set_id(id);
  return r;
}

TEST(StoredFeaturesTest, DecideLogsTheValuesUsedAndReplayReadsThem) {
  ScratchDir dir;
  MapSource source;
  source.PutUser(Alice(30));
  for (auto [id, price] : {std::pair<const char*, double>{"shoe", 20}, {"hat", 5}, {"bag", 0}}) {
    CatalogItem item;
    item.set_item(id);
    (*item.mutable_numbers())["price"] = price;
    source.PutItem(item);
  }
  ExperimentManagerOptions options;
  options.attributes = &source;
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), options));
  ASSERT_OK(manager->CreateExperiment(LinearConfig()).status());
  // Some learning so the pmf depends on the features.
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(DecideResponse d, manager->Decide(StoredRequest(absl::StrCat("t", i))));
    RewardRequest reward;
    reward.set_experiment("stored");
    reward.set_event_id(d.event_id());
    reward.set_value(d.chosen_action() == "hat" ? 1 : 0);
    ASSERT_OK(manager->Reward(reward).status());
  }

  ASSERT_OK(manager->Decide(StoredRequest("d1")).status());
  source.PutUser(Alice(64));  // updated between the two decisions
  ASSERT_OK_AND_ASSIGN(DecideResponse second, manager->Decide(StoredRequest("d2")));

  ASSERT_OK_AND_ASSIGN(DecisionEvent e1, manager->log().GetDecision("d1"));
  ASSERT_OK_AND_ASSIGN(DecisionEvent e2, manager->log().GetDecision("d2"));
  EXPECT_THAT(e1.stored_features(), ::testing::ElementsAre("user.age", "item.price"));
  ASSERT_EQ(e1.context().namespaces_size(), 1);
  EXPECT_THAT(Dump(e1.context().namespaces(0)), ::testing::ElementsAre("age=30"));
  EXPECT_THAT(Dump(e2.context().namespaces(0)), ::testing::ElementsAre("age=64"));
  EXPECT_THAT(Dump(e1.actions(0).namespaces(0)), ::testing::ElementsAre("price=20"));
  EXPECT_THAT(Dump(e1.actions(1).namespaces(0)), ::testing::ElementsAre("price=5"));
  EXPECT_EQ(e1.actions(2).namespaces(0).features_size(), 0);  // stored 0: nothing

  // Replay: the policy's current state over the logged context gives the
  // logged pmf of the last decision (no reward since).
  ASSERT_OK_AND_ASSIGN(PolicyState state, manager->PolicyStateOf("stored", "lin"));
  FeatureSpace space = FeatureSpaceFromConfig(LinearConfig());
  PolicyOptions popts;
  popts.context_dim = ContextLength(space);
  ASSERT_OK_AND_ASSIGN(ExperimentConfig stored, manager->GetExperiment("stored"));
  popts.exploration_floor = stored.exploration_floor();
  ASSERT_OK_AND_ASSIGN(auto policy, CreatePolicy(e2.policy_spec(), popts));
  ASSERT_OK(policy->Restore(state));
  DecisionInput input;
  ASSERT_OK(BuildDecisionInput(space, e2.context(), e2.actions(), &input));
  Decision replayed;
  ASSERT_OK(policy->Choose(input, e2.seed(), &replayed));
  EXPECT_THAT(replayed.pmf, ::testing::ElementsAreArray(e2.pmf()));
  EXPECT_EQ(replayed.chosen, e2.chosen_index());

  // Sending the logged values explicitly, without stored features, gives the
  // same pmf: serving with stored features is the same path.
  DecideRequest explicit_request;
  explicit_request.set_experiment("stored");
  explicit_request.set_event_id("d3");
  *explicit_request.mutable_context() = e2.context();
  *explicit_request.mutable_actions() = e2.actions();
  ASSERT_OK_AND_ASSIGN(DecideResponse third, manager->Decide(explicit_request));
  EXPECT_THAT(third.pmf(), ::testing::ElementsAreArray(second.pmf()));
}

TEST(StoredFeaturesTest, DecideRefusesStoredFeaturesItCannotServe) {
  ScratchDir dir;
  MapSource source;
  source.PutUser(Alice(30));
  CatalogItem shoe;
  shoe.set_item("shoe");
  (*shoe.mutable_numbers())["price"] = 20;
  source.PutItem(shoe);
  {
    ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
    ASSERT_OK(manager->CreateExperiment(LinearConfig()).status());
    EXPECT_THAT(manager->Decide(StoredRequest("x1")),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("need a catalog")));
  }
  ExperimentManagerOptions options;
  options.attributes = &source;
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), options));
  ExperimentConfig dense = LinearConfig();
  dense.set_name("dense");
  dense.set_hash_bits(0);
  dense.mutable_variants(0)->set_policy_spec("epsilon_greedy:epsilon=0.1");
  ASSERT_OK(manager->CreateExperiment(dense).status());
  DecideRequest r = StoredRequest("x2");
  r.set_experiment("dense");
  EXPECT_THAT(manager->Decide(r),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has hash_bits 0")));
  r = StoredRequest("x3");
  r.add_stored_features("user.shoe_size");
  EXPECT_THAT(manager->Decide(r), StatusIs(absl::StatusCode::kNotFound,
                                           HasSubstr("stored_features[2] \"user.shoe_size\"")));
  // Nothing was logged for the refused requests.
  for (const char* id : {"x1", "x2", "x3"}) {
    EXPECT_THAT(manager->log().GetDecision(id), StatusIs(absl::StatusCode::kNotFound));
  }
}

}  // namespace
}  // namespace recbandit::bandits
