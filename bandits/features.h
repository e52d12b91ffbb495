// Builds a policy's DecisionInput from the API's Context and Actions: dense
// features first, then sparse namespaced features hashed (Vowpal Wabbit style)
// into 2^hash_bits slots; action features the same way. The one feature path:
// serving, OPE's reward model, replay and the OBD reader all hash through it.
#ifndef RECBANDIT_BANDITS_FEATURES_H_
#define RECBANDIT_BANDITS_FEATURES_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "bandits/policy.h"
#include "google/protobuf/repeated_field.h"
#include "proto/common.pb.h"
#include "proto/events.pb.h"

namespace recbandit::bandits {

// Largest hash_bits accepted. DecisionInput vectors are dense, so 2^16 slots
// (512 KiB of doubles per context) is the ceiling; linear policies keep
// dim x dim matrices and additionally require a model dimension <=
// kMaxLinearDim (bandits/policy.h), i.e. hash_bits <= 12 in practice.
inline constexpr int32_t kMaxHashBits = 16;
// Largest dense context or action feature count.
inline constexpr int32_t kMaxDenseDim = 4096;
inline constexpr int32_t kMaxNamespaces = 64;            // per context / action
inline constexpr int32_t kMaxFeaturesPerNamespace = 1024;
inline constexpr int32_t kMaxFeatureNameBytes = 256;
inline constexpr int32_t kMaxNamespaceNameBytes = 64;

// Shape of the feature vectors of one experiment. Plain data.
struct FeatureSpace {
  // Required length of Context.dense. 0..kMaxDenseDim.
  int32_t dense_dim = 0;
  // Sparse context features go to 2^hash_bits slots after the dense part; 0 =
  // none accepted. 0..kMaxHashBits.
  int32_t hash_bits = 0;
  // Required length of every Action.dense; -1 = any, but the same for every
  // action of one request. -1..kMaxDenseDim.
  int32_t action_dense_dim = -1;
  // Sparse action features go to 2^action_hash_bits slots after the action's
  // dense part; -1 = same as hash_bits; 0 = none accepted. -1..kMaxHashBits.
  int32_t action_hash_bits = -1;
};

// Returns the FeatureSpace of an experiment (context_dim, hash_bits).
FeatureSpace FeatureSpaceFromConfig(const ExperimentConfig& config);

// Returns OK, or INVALID_ARGUMENT naming the field and its bound.
absl::Status ValidateFeatureSpace(const FeatureSpace& space);

// Returns the length of DecisionInput::context: dense_dim + 2^hash_bits (or +0
// when hash_bits is 0). This is PolicyOptions::context_dim.
int32_t ContextLength(const FeatureSpace& space);

// Returns the slot of feature `name` in namespace `ns` among 2^hash_bits slots:
// StableHash64(name, salt = StableHash64(ns)) mod 2^hash_bits.
uint32_t FeatureSlot(std::string_view ns, std::string_view name, int32_t hash_bits);

// One hashed sparse context feature: its slot among the 2^hash_bits sparse
// slots (index dense_dim + slot of DecisionInput::context) and its value (an
// unset or 0 value counts as 1). Plain data.
struct HashedFeature {
  uint32_t slot = 0;
  double value = 0;
};

// Returns OK and sets *sparse (buffer reused) to the sparse features of
// `context` hashed exactly as BuildDecisionInput hashes them, in namespace
// then feature order (names that collide give the same slot; the context
// vector adds their values). The same checks of the context and the same
// INVALID_ARGUMENT as BuildDecisionInput (dense length and finiteness, names,
// counts, sparse features when hash_bits is 0). This is the path readers of
// logged data (OPE's reward model, bandits/ope/reward_features.h) build
// features through, so they see the numbers a policy saw. REQUIRES:
// ValidateFeatureSpace(space) is OK.
absl::Status HashContext(const FeatureSpace& space, const Context& context,
                         std::vector<HashedFeature>* sparse);

// Fills *input (buffers reused) from `context` and `actions`. INVALID_ARGUMENT
// naming the field (e.g. "context.dense has 3 values; the experiment's
// context_dim is 8") for a wrong length, a non-finite value, an empty or long
// name, too many namespaces or features, sparse features when hash_bits is 0,
// no actions, an empty or duplicate action id, or action.dense lengths that
// differ. REQUIRES: ValidateFeatureSpace(space) is OK.
absl::Status BuildDecisionInput(const FeatureSpace& space, const Context& context,
                                const google::protobuf::RepeatedPtrField<Action>& actions,
                                DecisionInput* input);
absl::Status BuildDecisionInput(const FeatureSpace& space, const Context& context,
                                absl::Span<const Action> actions, DecisionInput* input);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_FEATURES_H_
