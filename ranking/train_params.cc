// TrainParams <-> learner options, the option names, validation.
#include "ranking/train_params.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::ranking {
namespace {

// The fields both learners have, mapped once: `Options` is AlsOptions or
// BprOptions, `Sub` the matching AlsParams or BprParams.
template <typename Options, typename Sub>
void SharedFromParams(const TrainParams& params, const Sub& p, Options* o) {
  if (p.factors() != 0) o->factors = p.factors();
  if (p.regularization() != 0) o->regularization = static_cast<float>(p.regularization());
  o->compute_loss = p.compute_loss();
  o->threads = params.threads() > 0 ? params.threads() : 1;
  o->seed = params.seed();
}

template <typename Options, typename Sub>
void SharedToParams(const Options& o, Sub* p, TrainParams* params) {
  p->set_factors(o.factors);
  p->set_regularization(o.regularization);
  p->set_compute_loss(o.compute_loss);
  params->set_threads(o.threads);
  params->set_seed(o.seed);
}

absl::Status NotOneOf(absl::string_view field, const char* choices, absl::string_view name) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be ", choices, ", got ", Quote(name)));
}

}  // namespace

const char* SolverName(AlsOptions::Solver solver) {
  return solver == AlsOptions::Solver::kCholesky ? "cholesky" : "cg";
}

absl::StatusOr<AlsOptions::Solver> ParseSolver(absl::string_view name, absl::string_view field) {
  if (name.empty() || name == "cg") return AlsOptions::Solver::kConjugateGradient;
  if (name == "cholesky") return AlsOptions::Solver::kCholesky;
  return NotOneOf(field, "cg or cholesky", name);
}

const char* NegativesName(BprOptions::Negatives negatives) {
  return negatives == BprOptions::Negatives::kPopularity ? "popularity" : "uniform";
}

absl::StatusOr<BprOptions::Negatives> ParseNegatives(absl::string_view name,
                                                    absl::string_view field) {
  if (name.empty() || name == "uniform") return BprOptions::Negatives::kUniform;
  if (name == "popularity") return BprOptions::Negatives::kPopularity;
  return NotOneOf(field, "uniform or popularity", name);
}

AlsOptions AlsOptionsFromParams(const TrainParams& params) {
  AlsOptions o;
  const AlsParams& p = params.als();
  SharedFromParams(params, p, &o);
  if (p.iterations() != 0) o.iterations = p.iterations();
  if (p.alpha() != 0) o.alpha = static_cast<float>(p.alpha());
  o.solver = ParseSolver(p.solver(), "").value_or(o.solver);
  if (p.cg_steps() != 0) o.cg_steps = p.cg_steps();
  o.scale_regularization = p.scale_regularization();
  return o;
}

TrainParams AlsOptionsToParams(const AlsOptions& o) {
  TrainParams params;
  params.set_algo(ALS);
  AlsParams* p = params.mutable_als();
  SharedToParams(o, p, &params);
  p->set_iterations(o.iterations);
  p->set_alpha(o.alpha);
  p->set_solver(SolverName(o.solver));
  p->set_cg_steps(o.cg_steps);
  p->set_scale_regularization(o.scale_regularization);
  return params;
}

BprOptions BprOptionsFromParams(const TrainParams& params) {
  BprOptions o;
  const BprParams& p = params.bpr();
  SharedFromParams(params, p, &o);
  if (p.epochs() != 0) o.epochs = p.epochs();
  if (p.learning_rate() != 0) o.learning_rate = static_cast<float>(p.learning_rate());
  o.negative_sampling = ParseNegatives(p.negative_sampling(), "").value_or(o.negative_sampling);
  o.item_bias = p.item_bias();
  return o;
}

TrainParams BprOptionsToParams(const BprOptions& o) {
  TrainParams params;
  params.set_algo(BPR);
  BprParams* p = params.mutable_bpr();
  SharedToParams(o, p, &params);
  p->set_epochs(o.epochs);
  p->set_learning_rate(o.learning_rate);
  p->set_negative_sampling(NegativesName(o.negative_sampling));
  p->set_item_bias(o.item_bias);
  return params;
}

absl::Status ValidateWeighting(const TrainParams& params) {
  if (params.event_weights_size() > InteractionLog::kMaxEventTypes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "params.event_weights has ", params.event_weights_size(), " entries (at most ",
        InteractionLog::kMaxEventTypes, ")"));
  }
  for (const auto& [name, w] : params.event_weights()) {
    RETURN_IF_ERROR(ValidateName(name, "params.event_weights type"));
    if (!std::isfinite(w) || w < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "params.event_weights[", Quote(name), "] must be a finite number >= 0, got ", w));
    }
  }
  if (!std::isfinite(params.min_weight()) || params.min_weight() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "params.min_weight must be a finite number >= 0, got ", params.min_weight()));
  }
  return absl::OkStatus();
}

WeightingOptions WeightingFromParams(const TrainParams& params) {
  WeightingOptions w;
  for (const auto& [name, weight] : params.event_weights()) w.event_weights.emplace_back(name, weight);
  std::sort(w.event_weights.begin(), w.event_weights.end());
  w.min_weight = params.min_weight();
  w.binary = params.binary();
  return w;
}

absl::Status ValidateTrainParams(const TrainParams& params) {
  if (params.threads() < 0 || params.threads() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("params.threads must be in [0, 256], got ", params.threads()));
  }
  RETURN_IF_ERROR(ValidateWeighting(params));
  switch (params.algo()) {
    case ALS:
      if (params.has_bpr()) return absl::InvalidArgumentError("params.bpr set with algo ALS");
      RETURN_IF_ERROR(ParseSolver(params.als().solver(), "params.als.solver").status());
      return ValidateAlsOptions(AlsOptionsFromParams(params));
    case BPR:
      if (params.has_als()) return absl::InvalidArgumentError("params.als set with algo BPR");
      RETURN_IF_ERROR(
          ParseNegatives(params.bpr().negative_sampling(), "params.bpr.negative_sampling")
              .status());
      return ValidateBprOptions(BprOptionsFromParams(params));
    default:
      return absl::InvalidArgumentError("params.algo must be ALS or BPR");
  }
}

int32_t FactorsOf(const TrainParams& params) {
  return params.algo() == ALS ? AlsOptionsFromParams(params).factors
                              : BprOptionsFromParams(params).factors;
}

int32_t IterationsOf(const TrainParams& params) {
  return params.algo() == ALS ? AlsOptionsFromParams(params).iterations
                              : BprOptionsFromParams(params).epochs;
}

}  // namespace recbandit::ranking
