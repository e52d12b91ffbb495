// Feature hashing and DecisionInput construction (see features.h).
#include "bandits/features.h"

#include <cmath>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "proto/core/random.h"
#include "proto/core/string_view.h"

namespace recbandit::bandits {
namespace {

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

// Names the owner of a field in errors: "context" or "actions[3]". Built only
// when an error is reported, so the hot path does not allocate.
struct Where {
  int action = -1;  // -1: the context
  std::string str() const {
    return action < 0 ? std::string("context") : absl::StrCat("actions[", action, "]");
  }
};

// Hashes the sparse features of `namespaces` into 2^bits slots, calling
// sink(slot, value) for each (the one hashing of context and action features).
template <typename Sink>
absl::Status HashNamespaces(
    const google::protobuf::RepeatedPtrField<Namespace>& namespaces, int32_t bits,
    const Where& w, Sink sink) {
  if (namespaces.empty()) return absl::OkStatus();
  if (bits == 0) {
    return Invalid(absl::StrCat(w.str(), ".namespaces has ", namespaces.size(),
                                " namespaces but hash_bits is 0: this experiment "
                                "accepts no sparse features"));
  }
  if (namespaces.size() > kMaxNamespaces) {
    return Invalid(absl::StrCat(w.str(), ".namespaces has ", namespaces.size(),
                                " entries; at most ", kMaxNamespaces));
  }
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  for (int i = 0; i < namespaces.size(); ++i) {
    const Namespace& ns = namespaces[i];
    if (ns.name().size() > kMaxNamespaceNameBytes) {
      return Invalid(absl::StrCat(w.str(), ".namespaces[", i, "].name is ",
                                  ns.name().size(), " bytes; at most ",
                                  kMaxNamespaceNameBytes));
    }
    if (ns.features_size() > kMaxFeaturesPerNamespace) {
      return Invalid(absl::StrCat(w.str(), ".namespaces[", i, "].features has ",
                                  ns.features_size(), " entries; at most ",
                                  kMaxFeaturesPerNamespace));
    }
    const uint64_t salt = StableHash64(ns.name());
    for (int j = 0; j < ns.features_size(); ++j) {
      const Feature& f = ns.features(j);
      if (f.name().empty() || f.name().size() > kMaxFeatureNameBytes) {
        return Invalid(absl::StrCat(w.str(), ".namespaces[", i, "].features[", j,
                                    "].name must be 1..", kMaxFeatureNameBytes,
                                    " bytes; got ", f.name().size()));
      }
      if (!std::isfinite(f.value())) {
        return Invalid(absl::StrCat(w.str(), ".namespaces[", i, "].features[", j,
                                    "].value is not finite"));
      }
      const double value = f.value() == 0.0f ? 1.0 : static_cast<double>(f.value());
      sink(static_cast<uint32_t>(StableHash64(f.name(), salt) & mask), value);
    }
  }
  return absl::OkStatus();
}

// Adds the hashed sparse features of `namespaces` to out[0, 2^bits).
absl::Status AddNamespaces(
    const google::protobuf::RepeatedPtrField<Namespace>& namespaces, int32_t bits,
    const Where& w, double* out) {
  return HashNamespaces(namespaces, bits, w,
                        [out](uint32_t slot, double value) { out[slot] += value; });
}

absl::Status CheckDense(const google::protobuf::RepeatedField<float>& dense,
                        const Where& w) {
  for (int i = 0; i < dense.size(); ++i) {
    if (!std::isfinite(dense[i])) {
      return Invalid(absl::StrCat(w.str(), ".dense[", i, "] is not finite"));
    }
  }
  return absl::OkStatus();
}

// Checks the context's dense part: its length and finiteness.
absl::Status CheckContextDense(const FeatureSpace& space, const Context& context) {
  if (context.dense_size() != space.dense_dim) {
    return Invalid(absl::StrCat("context.dense has ", context.dense_size(),
                                " values; the experiment's context_dim is ",
                                space.dense_dim));
  }
  return CheckDense(context.dense(), Where{});
}

template <typename ActionRange>
absl::Status Build(const FeatureSpace& space, const Context& context,
                   const ActionRange& actions, DecisionInput* input) {
  if (absl::Status s = CheckContextDense(space, context); !s.ok()) return s;
  const int32_t context_len = ContextLength(space);
  input->context.assign(context_len, 0.0);
  for (int i = 0; i < context.dense_size(); ++i) input->context[i] = context.dense(i);
  if (absl::Status s = AddNamespaces(context.namespaces(), space.hash_bits, Where{},
                                     input->context.data() + space.dense_dim);
      !s.ok()) {
    return s;
  }

  const int n = static_cast<int>(actions.size());
  if (n == 0) return Invalid("actions is empty: offer at least one action");
  const int32_t action_bits =
      space.action_hash_bits < 0 ? space.hash_bits : space.action_hash_bits;
  const int32_t action_dense =
      space.action_dense_dim >= 0 ? space.action_dense_dim : actions[0].dense_size();
  if (action_dense > kMaxDenseDim) {
    return Invalid(absl::StrCat("actions[0].dense has ", action_dense,
                                " values; at most ", kMaxDenseDim));
  }
  const int32_t action_len = action_dense + (action_bits > 0 ? (1 << action_bits) : 0);
  input->actions.resize(n);
  for (int a = 0; a < n; ++a) {
    const Action& action = actions[a];
    const Where w{a};
    if (action.id().empty() || action.id().size() > 256) {
      return Invalid(absl::StrCat(w.str(), ".id must be 1..256 bytes; got ",
                                  action.id().size()));
    }
    if (action.dense_size() != action_dense) {
      return Invalid(absl::StrCat(
          w.str(), ".dense has ", action.dense_size(), " values; expected ", action_dense,
          space.action_dense_dim >= 0 ? " (the experiment's action dim)"
                                      : " (same as actions[0])"));
    }
    if (absl::Status s = CheckDense(action.dense(), w); !s.ok()) return s;
    ActionInput& out = input->actions[a];
    out.id.assign(action.id());
    out.features.assign(action_len, 0.0);
    for (int i = 0; i < action_dense; ++i) out.features[i] = action.dense(i);
    if (absl::Status s = AddNamespaces(action.namespaces(), action_bits, w,
                                       out.features.data() + action_dense);
        !s.ok()) {
      return s;
    }
  }
  if (n > 1 && n <= 16) {  // small: compare pairs, no allocation
    for (int a = 1; a < n; ++a) {
      for (int b = 0; b < a; ++b) {
        if (input->actions[a].id == input->actions[b].id) {
          return Invalid(absl::StrCat("actions[", a, "].id \"", input->actions[a].id,
                                      "\" is a duplicate; ids must be unique"));
        }
      }
    }
  } else if (n > 16) {
    absl::flat_hash_set<absl::string_view> seen;
    seen.reserve(n);
    for (int a = 0; a < n; ++a) {
      if (!seen.insert(input->actions[a].id).second) {
        return Invalid(absl::StrCat("actions[", a, "].id \"", input->actions[a].id,
                                    "\" is a duplicate; ids must be unique"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

FeatureSpace FeatureSpaceFromConfig(const ExperimentConfig& config) {
  FeatureSpace space;
  space.dense_dim = config.context_dim();
  space.hash_bits = config.hash_bits();
  return space;
}

absl::Status ValidateFeatureSpace(const FeatureSpace& space) {
  if (space.dense_dim < 0 || space.dense_dim > kMaxDenseDim) {
    return Invalid(absl::StrCat("context_dim must be in [0, ", kMaxDenseDim, "]; got ",
                                space.dense_dim));
  }
  if (space.hash_bits < 0 || space.hash_bits > kMaxHashBits) {
    return Invalid(absl::StrCat("hash_bits must be in [0, ", kMaxHashBits, "]; got ",
                                space.hash_bits));
  }
  if (space.action_dense_dim < -1 || space.action_dense_dim > kMaxDenseDim) {
    return Invalid(absl::StrCat("action_dense_dim must be in [-1, ", kMaxDenseDim,
                                "]; got ", space.action_dense_dim));
  }
  if (space.action_hash_bits < -1 || space.action_hash_bits > kMaxHashBits) {
    return Invalid(absl::StrCat("action_hash_bits must be in [-1, ", kMaxHashBits,
                                "]; got ", space.action_hash_bits));
  }
  return absl::OkStatus();
}

int32_t ContextLength(const FeatureSpace& space) {
  return space.dense_dim + (space.hash_bits > 0 ? (1 << space.hash_bits) : 0);
}

uint32_t FeatureSlot(std::string_view ns, std::string_view name, int32_t hash_bits) {
  const uint64_t mask = (uint64_t{1} << hash_bits) - 1;
  return static_cast<uint32_t>(StableHash64(name, StableHash64(ns)) & mask);
}

absl::Status HashContext(const FeatureSpace& space, const Context& context,
                         std::vector<HashedFeature>* sparse) {
  sparse->clear();
  if (absl::Status s = CheckContextDense(space, context); !s.ok()) return s;
  return HashNamespaces(context.namespaces(), space.hash_bits, Where{},
                        [sparse](uint32_t slot, double value) {
                          sparse->push_back(HashedFeature{slot, value});
                        });
}

absl::Status BuildDecisionInput(const FeatureSpace& space, const Context& context,
                                const google::protobuf::RepeatedPtrField<Action>& actions,
                                DecisionInput* input) {
  return Build(space, context, actions, input);
}

absl::Status BuildDecisionInput(const FeatureSpace& space, const Context& context,
                                absl::Span<const Action> actions, DecisionInput* input) {
  return Build(space, context, actions, input);
}

}  // namespace recbandit::bandits
