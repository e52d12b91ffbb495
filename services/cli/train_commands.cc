// `recbandit train`, `recbandit evaluate` and `recbandit recommend`: ALS/BPR
// training with progress, checkpoints and resume; held-out metrics next to
// the popularity baseline; exact top-K recommendations with a cold-start
// popularity fallback.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/progress.h"
#include "proto/reports.pb.h"
#include "proto/core/status_macros.h"
#include "ranking/als.h"
#include "ranking/bpr.h"
#include "ranking/factor_model.h"
#include "ranking/metrics.h"
#include "ranking/popularity.h"
#include "ranking/topk.h"
#include "ranking/train_params.h"
#include "retrieval/item_index.h"
#include "services/cli/cli.h"
#include "services/serving/model_builder.h"
#include "services/serving/serving_model.h"
#include "services/serving/validation_gates.h"
#include "services/cli/flags.h"

namespace recbandit::services {

// Defined in data_commands.cc: --skip_bad_lines and --header as LoadOptions.
absl::StatusOr<ranking::LoadOptions> LoadOptionsFromFlags();

namespace {


int64_t PeakRssBytes() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux: kilobytes
}

absl::StatusOr<ranking::InteractionLog> LoadNonEmpty(const std::string& flag,
                                                     const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required"));
  ASSIGN_OR_RETURN(ranking::LoadOptions options, LoadOptionsFromFlags());
  ranking::LoadStats stats;
  ASSIGN_OR_RETURN(ranking::InteractionLog log, ranking::LoadInteractions(path, options, &stats));
  PrintWarning(ranking::SkippedLinesWarning(path, stats));
  RETURN_IF_ERROR(ranking::CheckHasInteractions(log, path, stats));
  return log;
}

// Sets params' event_weights, min_weight and binary from the flags.
absl::Status WeightingFromFlags(TrainParams* params) {
  ASSIGN_OR_RETURN(const auto weights,
                   ranking::ParseEventWeights(absl::GetFlag(FLAGS_event_weights),
                                              "--event_weights"));
  for (const auto& [name, w] : weights) (*params->mutable_event_weights())[name] = w;
  const double min_weight = absl::GetFlag(FLAGS_min_weight);
  if (!std::isfinite(min_weight) || min_weight < 0 || min_weight > 3.4e38) {
    return absl::InvalidArgumentError(
        absl::StrCat("--min_weight = ", min_weight, " must be a finite number >= 0"));
  }
  params->set_min_weight(static_cast<float>(min_weight));
  params->set_binary(absl::GetFlag(FLAGS_binary));
  return absl::OkStatus();
}

// Returns the training parameters requested by the flags (defaults filled).
absl::StatusOr<TrainParams> ParamsFromFlags() {
  const std::string algo = absl::GetFlag(FLAGS_algo);
  const int32_t factors = absl::GetFlag(FLAGS_factors);
  const int32_t iterations = absl::GetFlag(FLAGS_iterations);
  const double reg = absl::GetFlag(FLAGS_regularization);
  const int32_t threads = ThreadsFromFlag();
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  // 0 is the flags' "not given" default; given, every value is checked.
  if (FlagGiven("factors") && factors < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--factors = ", factors, " must be >= 1"));
  }
  if (FlagGiven("iterations") && iterations < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--iterations = ", iterations, " must be >= 1"));
  }
  if (FlagGiven("regularization") && !(reg >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--regularization = ", reg, " must be a number >= 0"));
  }
  if (algo == "als") {
    ranking::AlsOptions o;
    if (FlagGiven("factors")) o.factors = factors;
    if (FlagGiven("iterations")) o.iterations = iterations;
    if (FlagGiven("regularization")) o.regularization = static_cast<float>(reg);
    o.alpha = static_cast<float>(absl::GetFlag(FLAGS_alpha));
    ASSIGN_OR_RETURN(o.solver, ranking::ParseSolver(absl::GetFlag(FLAGS_solver), "--solver"));
    o.cg_steps = absl::GetFlag(FLAGS_cg_steps);
    o.scale_regularization = absl::GetFlag(FLAGS_scale_regularization);
    o.compute_loss = absl::GetFlag(FLAGS_compute_loss);
    o.threads = threads;
    o.seed = seed;
    RETURN_IF_ERROR(ranking::ValidateAlsOptions(o));
    TrainParams params = ranking::AlsOptionsToParams(o);
    RETURN_IF_ERROR(WeightingFromFlags(&params));
    return params;
  }
  if (algo == "bpr") {
    ranking::BprOptions o;
    if (FlagGiven("factors")) o.factors = factors;
    if (FlagGiven("iterations")) o.epochs = iterations;
    if (FlagGiven("regularization")) o.regularization = static_cast<float>(reg);
    o.learning_rate = static_cast<float>(absl::GetFlag(FLAGS_learning_rate));
    ASSIGN_OR_RETURN(o.negative_sampling,
                     ranking::ParseNegatives(absl::GetFlag(FLAGS_negative_sampling),
                                             "--negative_sampling"));
    o.item_bias = absl::GetFlag(FLAGS_item_bias);
    o.compute_loss = absl::GetFlag(FLAGS_compute_loss);
    o.threads = threads;
    o.seed = seed;
    RETURN_IF_ERROR(ranking::ValidateBprOptions(o));
    TrainParams params = ranking::BprOptionsToParams(o);
    RETURN_IF_ERROR(WeightingFromFlags(&params));
    return params;
  }
  return absl::InvalidArgumentError(absl::StrCat("--algo must be als or bpr, got ", Quote(algo)));
}

// Returns the validation gates the --holdout / --gate_* / --compare_to flags
// ask for (defaults filled in); sets *gated to whether any was given.
absl::StatusOr<ValidationGates> GatesFromFlags(bool has_index, bool* gated) {
  *gated = false;
  for (const char* name : {"holdout", "holdout_fraction", "gate_ndcg_tolerance",
                           "gate_recall_tolerance", "gate_min_coverage", "gate_min_index_recall",
                           "gate_index_recall_users", "compare_to", "force_promotion"}) {
    *gated = *gated || FlagGiven(name);
  }
  ValidationGates gates;
  if (!*gated) return gates;
  gates.mutable_holdout()->set_scheme(absl::GetFlag(FLAGS_holdout));
  gates.mutable_holdout()->set_fraction(absl::GetFlag(FLAGS_holdout_fraction));
  gates.mutable_holdout()->set_seed(absl::GetFlag(FLAGS_seed));
  gates.set_k(absl::GetFlag(FLAGS_k));
  if (FlagGiven("gate_ndcg_tolerance")) {
    gates.mutable_ndcg_tolerance()->set_value(absl::GetFlag(FLAGS_gate_ndcg_tolerance));
  }
  if (FlagGiven("gate_recall_tolerance")) {
    gates.mutable_recall_tolerance()->set_value(absl::GetFlag(FLAGS_gate_recall_tolerance));
  }
  if (FlagGiven("gate_min_coverage")) gates.mutable_min_coverage()->set_value(absl::GetFlag(FLAGS_gate_min_coverage));
  if (FlagGiven("gate_min_index_recall")) {
    gates.mutable_min_index_recall()->set_value(absl::GetFlag(FLAGS_gate_min_index_recall));
  }
  gates.set_index_recall_users(absl::GetFlag(FLAGS_gate_index_recall_users));
  gates.set_force(absl::GetFlag(FLAGS_force_promotion));
  if (gates.holdout().fraction() == 0 || gates.index_recall_users() == 0) {  // 0 means default in the proto
    return absl::InvalidArgumentError(
        "--holdout_fraction and --gate_index_recall_users must be above 0");
  }
  RETURN_IF_ERROR(ValidateGates(gates, has_index, [](const std::string& field) -> std::string {
    static const auto* flags = new absl::flat_hash_map<std::string, std::string>{
        {"holdout.scheme", "--holdout"},
        {"holdout.fraction", "--holdout_fraction"},
        {"k", "--k"},
        {"ndcg_tolerance", "--gate_ndcg_tolerance"},
        {"recall_tolerance", "--gate_recall_tolerance"},
        {"min_coverage", "--gate_min_coverage"},
        {"min_index_recall", "--gate_min_index_recall"},
        {"index_recall_users", "--gate_index_recall_users"},
        {"params.index_factory", "--index"}};
    const auto it = flags->find(field);
    return it != flags->end() ? it->second : field;
  }));
  return WithGateDefaults(gates);
}

// Returns the evaluation options of --k, --metrics_k and the load flags.
absl::StatusOr<TestEvaluationOptions> TestOptionsFromFlags(int32_t threads, bool popularity) {
  TestEvaluationOptions options;
  options.k = absl::GetFlag(FLAGS_k);
  if (options.k < 1 || options.k > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--k = ", options.k, " is out of range (1..1000)"));
  }
  ASSIGN_OR_RETURN(options.cutoffs,
                   ranking::ParseCutoffs(absl::GetFlag(FLAGS_metrics_k), "--metrics_k"));
  options.threads = threads;
  options.popularity = popularity;
  ASSIGN_OR_RETURN(options.load, LoadOptionsFromFlags());
  return options;
}

// EvaluateTestFile on --test, read with the CLI's load flags.
absl::StatusOr<TestEvaluation> EvaluateOnTestFlag(const ranking::FactorModel& model,
                                                  const ranking::CsrMatrix& train,
                                                  const TestEvaluationOptions& options) {
  const std::string path = absl::GetFlag(FLAGS_test);
  if (path.empty()) return absl::InvalidArgumentError("--test is required");
  return EvaluateTestFile(model, train, path, options);
}

}  // namespace

// Returns the model for `state` with its manifest filled in.
absl::StatusOr<ranking::FactorModel> MakeModel(const ranking::Interactions& data,
                                               const TrainParams& params,
                                               const ranking::FactorState& state,
                                               const std::string& out,
                                               const RankingMetrics* metrics) {
  return MakeVersionedModel(data, params, state, ModelNameForDir(out), 1, metrics);
}

absl::Status RunTrain(const CommandArgs& args) {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out (model directory) is required");
  const int32_t checkpoint_every = absl::GetFlag(FLAGS_checkpoint_every);
  if (checkpoint_every < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--checkpoint_every = ", checkpoint_every, " must be >= 0"));
  }
  const int32_t stop_after = absl::GetFlag(FLAGS_stop_after);
  ASSIGN_OR_RETURN(TrainParams params, ParamsFromFlags());
  // Checked before training, not after it.
  ASSIGN_OR_RETURN(const TestEvaluationOptions test_options,
                   TestOptionsFromFlags(params.threads(), false));
  const std::string index_factory = absl::GetFlag(FLAGS_index);
  bool gated = false;
  ASSIGN_OR_RETURN(const ValidationGates gates, GatesFromFlags(!index_factory.empty(), &gated));
  std::unique_ptr<ranking::FactorModel> compare_to;
  if (!absl::GetFlag(FLAGS_compare_to).empty()) {
    ASSIGN_OR_RETURN(ranking::FactorModel m,
                     ranking::FactorModel::Load(absl::GetFlag(FLAGS_compare_to)));
    compare_to = std::make_unique<ranking::FactorModel>(std::move(m));
  }
  ASSIGN_OR_RETURN(ranking::InteractionLog log,
                   LoadNonEmpty("input", absl::GetFlag(FLAGS_input)));
  RETURN_IF_ERROR(ApplyWeighting(params, absl::GetFlag(FLAGS_input), &log));
  // With gates, the model trains on the input minus its holdout.
  HoldoutSplit split;
  if (gated) {
    split = SplitHoldout(log, gates.holdout());
  } else {
    split.train = std::move(log);
  }
  log = ranking::InteractionLog();
  const ranking::Interactions data = ranking::Interactions::FromLog(split.train);
  if (!gated) split.train = ranking::InteractionLog();  // release the raw rows
  if (!index_factory.empty()) {  // before training, not after it
    absl::Status index = retrieval::ValidateIndexFactory(index_factory, ranking::FactorsOf(params),
                                                         data.num_items());
    if (!index.ok()) return absl::InvalidArgumentError(absl::StrCat("--index: ", index.message()));
  }

  std::unique_ptr<ranking::FactorState> resume;
  if (absl::GetFlag(FLAGS_resume)) {
    if (PathExists(out + "/manifest")) {
      ASSIGN_OR_RETURN(ranking::FactorState s, LoadTrainingCheckpoint(out, params, data));
      std::fprintf(stderr, "resuming from %s after %d iterations\n", out.c_str(),
                   s.iterations_done);
      resume = std::make_unique<ranking::FactorState>(std::move(s));
    } else {
      std::fprintf(stderr, "no checkpoint in %s; starting from scratch\n", out.c_str());
    }
  }

  const int32_t total = ranking::IterationsOf(params);
  const std::string algo = ranking::AlgorithmName(params.algo());
  ProgressReporter progress(algo, total);
  if (resume != nullptr) progress.Update(resume->iterations_done);
  TrainReport report;
  std::vector<double> losses;
  double iteration_seconds = 0;
  int32_t iterations_run = 0;
  const ranking::IterationCallback callback =
      [&](const ranking::TrainingProgress& p, const ranking::FactorState& s) -> absl::Status {
    iteration_seconds += p.seconds;
    ++iterations_run;
    std::string detail;
    if (!std::isnan(p.loss)) {
      report.add_loss(p.loss);
      losses.push_back(p.loss);
      detail = absl::StrFormat("loss=%.6g", p.loss);
    }
    progress.Update(p.iteration, detail);
    const bool stop = stop_after > 0 && p.iteration == stop_after && p.iteration < p.total;
    if (p.iteration < p.total &&
        (stop || (checkpoint_every > 0 && p.iteration % checkpoint_every == 0))) {
      ASSIGN_OR_RETURN(ranking::FactorModel checkpoint, MakeModel(data, params, s, out, nullptr));
      RETURN_IF_ERROR(checkpoint.Save(out));
    }
    if (stop) {
      return absl::AbortedError(absl::StrCat(
          "stopped after ", p.iteration, " of ", p.total,
          " iterations (--stop_after); checkpoint in ", out, ", continue with --resume"));
    }
    return absl::OkStatus();
  };
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ranking::FactorState> state =
      ranking::Train(params, data, resume.get(), callback);
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.Finish();
  if (!state.ok()) return state.status();

  ASSIGN_OR_RETURN(ranking::FactorModel model, MakeModel(data, params, *state, out, nullptr));
  const std::string test_path = absl::GetFlag(FLAGS_test);
  if (!test_path.empty()) {
    ASSIGN_OR_RETURN(TestEvaluation evaluation,
                     EvaluateOnTestFlag(model, data.user_items(), test_options));
    *report.mutable_metrics() = evaluation.metrics;
    for (const RankingMetrics& m : evaluation.at_cutoffs) *report.add_metrics_at_k() = m;
    *model.mutable_manifest()->mutable_metrics() = evaluation.metrics;
  }
  std::unique_ptr<retrieval::ItemIndex> index;
  if (!index_factory.empty()) {
    std::unique_ptr<ProgressReporter> index_progress;
    retrieval::IndexBuildOptions build;
    build.threads = params.threads();
    build.progress =
        ReportProgressTo(absl::StrCat("index ", index_factory, " items"), &index_progress);
    ASSIGN_OR_RETURN(index, retrieval::BuildItemIndex(index_factory, model.item_factors(),
                                                      model.factors(), build));
    if (index_progress) index_progress->Finish();
    report.set_index_factory(index_factory);
  }
  if (gated) {
    GateInputs inputs;
    inputs.candidate = &model;
    inputs.train = &data;
    inputs.split = &split;
    inputs.index = index.get();
    inputs.active = compare_to.get();
    inputs.active_version = compare_to != nullptr ? compare_to->manifest().version() : 0;
    inputs.losses = losses;
    ASSIGN_OR_RETURN(*report.mutable_validation(),
                     EvaluateGates(gates, inputs, params.threads()));
    *model.mutable_manifest()->mutable_validation() = report.validation();
  }
  RETURN_IF_ERROR(model.Save(out));
  if (index != nullptr) RETURN_IF_ERROR(index->Save(absl::StrCat(out, "/", kItemIndexFile)));

  FillTrainReport(data, params, *state, iterations_run, iteration_seconds, train_seconds, out,
                  &report);
  report.set_peak_rss_bytes(PeakRssBytes());
  PrintJsonLine(ToJson(report));
  if (gated && !report.validation().promoted()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "validation gates failed (", FailedGatesSummary(report.validation()), "); the model in ",
        out, " carries the figures; --force_promotion accepts it"));
  }
  return absl::OkStatus();
}

absl::Status RunEvaluate(const CommandArgs& args) {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model is required");
  ASSIGN_OR_RETURN(ranking::FactorModel model, ranking::FactorModel::Load(model_dir));
  ASSIGN_OR_RETURN(ranking::InteractionLog train_log,
                   LoadNonEmpty("train", absl::GetFlag(FLAGS_train)));
  const ranking::Interactions train = ranking::Interactions::FromLogWithIds(
      train_log, model.users(), model.items(), nullptr);
  ASSIGN_OR_RETURN(TestEvaluationOptions options, TestOptionsFromFlags(ThreadsFromFlag(), true));
  options.by_event_type = absl::GetFlag(FLAGS_by_event_type);
  ASSIGN_OR_RETURN(TestEvaluation evaluation,
                   EvaluateOnTestFlag(model, train.user_items(), options));
  EvaluateReport report;
  *report.mutable_metrics() = evaluation.metrics;
  *report.mutable_popularity_baseline() = evaluation.popularity;
  for (const RankingMetrics& m : evaluation.at_cutoffs) *report.add_metrics_at_k() = m;
  for (EventTypeMetrics& m : evaluation.by_event_type) *report.add_by_event_type() = std::move(m);
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

absl::Status RunRecommend(const CommandArgs& args) {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  const std::string user = absl::GetFlag(FLAGS_user);
  if (model_dir.empty()) return absl::InvalidArgumentError("--model is required");
  if (absl::GetFlag(FLAGS_all_users)) {
    return RunRecommendAllUsers(model_dir, absl::GetFlag(FLAGS_out));
  }
  if (user.empty()) return absl::InvalidArgumentError("--user (or --all_users) is required");
  const int32_t k = absl::GetFlag(FLAGS_k);
  if (k < 1 || k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("--k = ", k, " is out of range (1..1000)"));
  }
  // Through the model's item index (Exact when it has none), as the server
  // and `--all_users` do: same candidates, same exact rescoring.
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> serving, ServingModel::Load(model_dir));
  RecommendQuery query;
  query.user = user;
  query.k = k;
  query.exclude_seen = absl::GetFlag(FLAGS_exclude_seen);
  query.search = SearchParamsFromFlags();
  ASSIGN_OR_RETURN(Recommendation rec, serving->Recommend(query));
  RecommendResult result;
  result.set_user(user);
  result.set_model_version(serving->version());
  result.set_fallback(rec.fallback);
  for (const ScoredItemId& s : rec.items) {
    ScoredItem* item = result.add_items();
    item->set_item(s.item);
    item->set_score(s.score);
  }
  PrintJsonLine(ToJson(result));
  return absl::OkStatus();
}

}  // namespace recbandit::services
