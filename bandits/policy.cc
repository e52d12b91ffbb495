// Policy spec parsing (bandits/log/log_format.md), the CreatePolicy factory and
// the default Policy::Bind.
#include "bandits/policy.h"

#include <charconv>
#include <cmath>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "bandits/policy_internal.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {
namespace internal {

SpecParams::SpecParams(const PolicySpec& spec)
    : family_(spec.family), params_(spec.params), used_(spec.params.size(), false) {}

bool SpecParams::Has(const std::string& key) const {
  for (const auto& [k, v] : params_) {
    if (k == key) return true;
  }
  return false;
}

absl::StatusOr<double> SpecParams::Double(const std::string& key, double def, double lo,
                                          double hi, bool lo_open) {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].first != key) continue;
    used_[i] = true;
    double value = 0;
    if (!absl::SimpleAtod(params_[i].second, &value) || !std::isfinite(value) ||
        value < lo || (lo_open && value == lo) || value > hi) {
      return absl::InvalidArgumentError(absl::StrCat(
          "policy ", family_, ": ", key, "=", params_[i].second, " must be a number in ",
          lo_open ? "(" : "[", FormatNumber(lo), ", ", FormatNumber(hi), "]"));
    }
    return value;
  }
  return def;
}

absl::StatusOr<std::string> SpecParams::Choice(
    const std::string& key, const std::string& def,
    std::initializer_list<const char*> choices) {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].first != key) continue;
    used_[i] = true;
    for (const char* c : choices) {
      if (params_[i].second == c) return params_[i].second;
    }
    return absl::InvalidArgumentError(absl::StrCat("policy ", family_, ": ", key, "=",
                                                   params_[i].second, " must be one of ",
                                                   absl::StrJoin(choices, "|")));
  }
  return def;
}

absl::Status SpecParams::CheckAllUsed() const {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!used_[i]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "policy ", family_, ": unknown or inapplicable parameter '", params_[i].first,
          "' (see the Bandit policies section of README.md)"));
    }
  }
  return absl::OkStatus();
}

std::string FormatNumber(double x) {
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), x);
  return std::string(buf, result.ptr);
}

absl::Status CheckUpdateArgs(const DecisionInput& input, int32_t chosen, double reward) {
  if (chosen < 0 || chosen >= static_cast<int32_t>(input.actions.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Update: chosen index ", chosen, " is outside [0, ", input.actions.size(), ")"));
  }
  if (!std::isfinite(reward)) {
    return absl::InvalidArgumentError("Update: reward is not finite");
  }
  return absl::OkStatus();
}

}  // namespace internal

namespace {

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
         c == '-';
}

bool IsName(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

// Policy::Bind's default: the policy's own Choose and Update.
class ForwardingBinding final : public BoundPolicy {
 public:
  explicit ForwardingBinding(Policy& policy) : policy_(policy) {}
  absl::Status Choose(const DecisionInput& input, uint64_t seed, Decision* decision) override {
    return policy_.Choose(input, seed, decision);
  }
  absl::Status Update(const DecisionInput& input, int32_t chosen, double reward) override {
    return policy_.Update(input, chosen, reward);
  }

 private:
  Policy& policy_;
};

}  // namespace

std::unique_ptr<BoundPolicy> Policy::Bind(const DecisionInput&) {
  return std::make_unique<ForwardingBinding>(*this);
}

absl::StatusOr<PolicySpec> ParsePolicySpec(absl::string_view spec) {
  spec = absl::StripAsciiWhitespace(spec);
  PolicySpec out;
  const size_t colon = spec.find(':');
  const absl::string_view family =
      absl::StripAsciiWhitespace(spec.substr(0, colon));
  if (!IsName(family)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy spec ", Quote(spec), ": the family must be a non-empty name like "
        "'epsilon_greedy' (syntax family[:key=value[,key=value...]])"));
  }
  out.family = std::string(family);
  if (colon == absl::string_view::npos) return out;
  const absl::string_view rest = spec.substr(colon + 1);
  for (absl::string_view token : absl::StrSplit(rest, ',')) {
    token = absl::StripAsciiWhitespace(token);
    const size_t eq = token.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "policy spec ", Quote(spec), ": parameter ", Quote(token), " is not key=value"));
    }
    const absl::string_view key = absl::StripAsciiWhitespace(token.substr(0, eq));
    const absl::string_view value = absl::StripAsciiWhitespace(token.substr(eq + 1));
    if (!IsName(key) || value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "policy spec ", Quote(spec), ": parameter '", token,
          "' needs a key (letters, digits, _) and a non-empty value"));
    }
    for (const auto& [k, v] : out.params) {
      if (k == key) {
        return absl::InvalidArgumentError(
            absl::StrCat("policy spec ", Quote(spec), ": parameter ", Quote(key), " is repeated"));
      }
    }
    out.params.emplace_back(std::string(key), std::string(value));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ParsePolicySpecList(absl::string_view list) {
  std::vector<std::string> specs;
  list = absl::StripAsciiWhitespace(list);
  if (list.empty()) return specs;
  for (absl::string_view token : absl::StrSplit(list, ',')) {
    token = absl::StripAsciiWhitespace(token);
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy list ", Quote(list), " has an empty entry"));
    }
    const bool has_colon = token.find(':') != absl::string_view::npos;
    const bool has_eq = token.find('=') != absl::string_view::npos;
    if (!has_colon && has_eq) {
      if (specs.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "policy list ", Quote(list), ": ", Quote(token), " is a parameter with no policy before it"));
      }
      std::string& last = specs.back();
      absl::StrAppend(&last, last.find(':') == std::string::npos ? ":" : ",", token);
    } else {
      specs.emplace_back(token);
    }
  }
  for (const std::string& s : specs) {
    RETURN_IF_ERROR(ParsePolicySpec(s).status());
  }
  return specs;
}

const std::vector<std::string>& PolicyFamilies() {
  static const auto* families = new std::vector<std::string>{
      "epsilon_greedy", "ucb1",   "thompson",          "softmax",
      "linucb",         "lin_ts", "lin_epsilon_greedy"};
  return *families;
}

absl::StatusOr<std::unique_ptr<Policy>> CreatePolicy(absl::string_view spec,
                                                     const PolicyOptions& options) {
  ASSIGN_OR_RETURN(PolicySpec parsed, ParsePolicySpec(spec));
  if (options.context_dim < 0 || options.context_dim > 4096 + (1 << 16)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy options: context_dim must be in [0, ", 4096 + (1 << 16), "]; got ",
        options.context_dim));
  }
  if (options.action_dim < -1 || options.action_dim > 4096) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy options: action_dim must be in [-1, 4096]; got ", options.action_dim));
  }
  if (!(options.exploration_floor >= 0 && options.exploration_floor <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy options: exploration_floor must be in [0, 1]; got ",
                     options.exploration_floor));
  }
  if (options.thompson_pmf_draws < 1 || options.thompson_pmf_draws > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy options: thompson_pmf_draws must be in [1, 1000000]; got ",
                     options.thompson_pmf_draws));
  }
  const std::string& f = parsed.family;
  if (f == "epsilon_greedy" || f == "ucb1" || f == "thompson" || f == "softmax") {
    return internal::CreateArmPolicy(parsed, options);
  }
  if (f == "linucb" || f == "lin_ts" || f == "lin_epsilon_greedy") {
    return internal::CreateLinearPolicy(parsed, options);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown policy family '", f,
                   "'; known: ", absl::StrJoin(PolicyFamilies(), ", ")));
}

absl::StatusOr<std::string> CanonicalPolicySpec(absl::string_view spec) {
  PolicyOptions options;
  ASSIGN_OR_RETURN(std::unique_ptr<Policy> policy, CreatePolicy(spec, options));
  return policy->spec();
}


}  // namespace recbandit::bandits
