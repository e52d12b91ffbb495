// Model versions from training runs: manifest, item index, report.
#include "services/serving/model_builder.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "ranking/train_params.h"
#include "ranking/metrics.h"
#include "ranking/popularity.h"
#include "retrieval/item_index.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {

namespace {

// Returns the manifest fields every model version has: name, version, algo
// and params, creation time, code version (FactorModel::Create sets the
// counts and Save the files).
ModelManifest BaseManifest(const std::string& name, int64_t version, const TrainParams& params) {
  ModelManifest manifest;
  manifest.set_name(name);
  manifest.set_version(version);
  manifest.set_algo(params.algo());
  *manifest.mutable_params() = params;
  manifest.set_created_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  manifest.set_code_version(RECBANDIT_VERSION);
  return manifest;
}

}  // namespace

absl::StatusOr<ranking::FactorModel> MakeVersionedModel(const ranking::Interactions& data,
                                                        const TrainParams& params,
                                                        const ranking::FactorState& state,
                                                        const std::string& name, int64_t version,
                                                        const RankingMetrics* metrics) {
  ModelManifest manifest = BaseManifest(name, version, params);
  manifest.set_num_interactions(data.nnz());
  manifest.set_iterations_done(state.iterations_done);
  if (metrics != nullptr) *manifest.mutable_metrics() = *metrics;
  return ranking::FactorModel::Create(data.users(), data.items(), state.factors,
                                      state.user_factors, state.item_factors, state.item_bias,
                                      std::move(manifest), &data.user_items());
}

absl::StatusOr<ranking::FactorModel> MakeImportedModel(ranking::ImportedFactors imported,
                                                       const std::string& name, int64_t version,
                                                       const std::string& index_factory) {
  TrainParams params;
  params.set_algo(IMPORTED);
  params.set_index_factory(index_factory);
  ModelManifest manifest = BaseManifest(name, version, params);
  *manifest.mutable_imported_from() = std::move(imported.source);
  return ranking::FactorModel::Create(std::move(imported.users), std::move(imported.items),
                                      imported.factors, std::move(imported.user_factors),
                                      std::move(imported.item_factors), {}, std::move(manifest),
                                      nullptr);
}

std::string ModelNameForDir(const std::string& dir) {
  std::string name = std::filesystem::path(dir).filename().string();
  if (name.empty() || name.size() > 64) name = "model";
  return name;
}

void FillTrainReport(const ranking::Interactions& data, const TrainParams& params,
                     const ranking::FactorState& state, int32_t iterations_run,
                     double iteration_seconds, double train_seconds,
                     const std::string& model_dir, TrainReport* report) {
  report->set_algo(ranking::AlgorithmName(params.algo()));
  report->set_factors(state.factors);
  report->set_iterations(state.iterations_done);
  report->set_seconds_per_iteration(iterations_run > 0 ? iteration_seconds / iterations_run : 0);
  report->set_train_seconds(train_seconds);
  report->set_model_dir(model_dir);
  report->set_num_users(data.num_users());
  report->set_num_items(data.num_items());
  report->set_num_interactions(data.nnz());
}

absl::Status BuildModelIndex(const std::string& model_dir, const std::string& factory,
                             int32_t threads, IndexReport* report,
                             const ProgressCallback& progress) {
  ASSIGN_OR_RETURN(ranking::FactorModel model, ranking::FactorModel::Load(model_dir));
  retrieval::IndexBuildOptions options;
  options.threads = threads;
  options.progress = progress;
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<retrieval::ItemIndex> index,
                   retrieval::BuildItemIndex(factory, model.item_factors(), model.factors(),
                                             options));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RETURN_IF_ERROR(index->Save(absl::StrCat(model_dir, "/", kItemIndexFile)));
  if (report != nullptr) {
    report->set_model_dir(model_dir);
    report->set_index_factory(factory);
    report->set_items(index->size());
    report->set_build_seconds(seconds);
  }
  return absl::OkStatus();
}

absl::Status ApplyWeighting(const TrainParams& params, const std::string& source,
                            ranking::InteractionLog* log) {
  RETURN_IF_ERROR(ranking::ValidateWeighting(params));
  const ranking::WeightingOptions options = ranking::WeightingFromParams(params);
  if (options.event_weights.empty() && options.min_weight == 0 && !options.binary) {
    return absl::OkStatus();  // rows of weight 0 train as they always did
  }
  ASSIGN_OR_RETURN(const ranking::WeightingStats stats,
                   ranking::Reweight(options, source, log));
  if (stats.kept == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        PathForMessage(source), ": no interactions left after min_weight ", options.min_weight,
        " and the event weights"));
  }
  if (stats.dropped > 0 || stats.duplicates > 0) {
    std::fprintf(stderr, "%s: %lld interactions kept, %lld dropped (weight below min_weight "
                 "or 0), %lld repeated pairs merged (binary)\n",
                 PathForMessage(source).c_str(), static_cast<long long>(stats.kept),
                 static_cast<long long>(stats.dropped), static_cast<long long>(stats.duplicates));
  }
  return absl::OkStatus();
}

absl::StatusOr<TestEvaluation> EvaluateTestFile(const ranking::FactorModel& model,
                                                const ranking::CsrMatrix& train,
                                                const std::string& test_path,
                                                const TestEvaluationOptions& options) {
  ranking::LoadStats stats;
  ASSIGN_OR_RETURN(ranking::InteractionLog test_log,
                   ranking::LoadInteractions(test_path, options.load, &stats));
  const std::string warning = ranking::SkippedLinesWarning(test_path, stats);
  if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
  RETURN_IF_ERROR(ranking::CheckHasInteractions(test_log, test_path, stats));
  int64_t dropped = 0;
  const ranking::Interactions test = ranking::Interactions::FromLogWithIds(
      test_log, model.users(), model.items(), &dropped);
  if (dropped > 0) {
    std::fprintf(stderr, "%s: %lld test interactions with users or items unknown to the model "
                 "were left out\n", test_path.c_str(), static_cast<long long>(dropped));
  }
  // k and the cut-offs in one pass.
  std::vector<int32_t> ks = options.cutoffs;
  ks.push_back(options.k);
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  ASSIGN_OR_RETURN(std::vector<RankingMetrics> at,
                   ranking::EvaluateRankingAtCutoffs(train, test.user_items(),
                                                     ranking::ModelScorer(model), ks,
                                                     options.threads));
  TestEvaluation out;
  for (size_t c = 0; c < ks.size(); ++c) {
    if (ks[c] == options.k) out.metrics = at[c];
    if (std::find(options.cutoffs.begin(), options.cutoffs.end(), ks[c]) !=
        options.cutoffs.end()) {
      out.at_cutoffs.push_back(at[c]);
    }
  }
  if (options.by_event_type) {
    if (test_log.event_type.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          PathForMessage(test_path), ": no event types (a fifth column) to report metrics by"));
    }
    std::vector<std::pair<std::string, int32_t>> types;
    for (int32_t t = 0; t < test_log.event_types.size(); ++t) {
      types.emplace_back(test_log.event_types.Name(t), t);
    }
    std::sort(types.begin(), types.end());
    for (const auto& [name, t] : types) {
      ranking::InteractionLog sub;
      sub.users = test_log.users;
      sub.items = test_log.items;
      for (int64_t r = 0; r < test_log.size(); ++r) {
        if (test_log.event_type[r] == t) {
          sub.Add(test_log.user[r], test_log.item[r], test_log.weight[r], test_log.timestamp[r]);
        }
      }
      const ranking::Interactions typed =
          ranking::Interactions::FromLogWithIds(sub, model.users(), model.items(), nullptr);
      ASSIGN_OR_RETURN(std::vector<RankingMetrics> typed_at,
                       ranking::EvaluateRankingAtCutoffs(train, typed.user_items(),
                                                         ranking::ModelScorer(model), ks,
                                                         options.threads));
      EventTypeMetrics m;
      m.set_event_type(name);
      m.set_interactions(sub.size());
      for (size_t c = 0; c < ks.size(); ++c) {
        if (ks[c] == options.k) *m.mutable_metrics() = typed_at[c];
        if (std::find(options.cutoffs.begin(), options.cutoffs.end(), ks[c]) !=
            options.cutoffs.end()) {
          *m.add_metrics_at_k() = typed_at[c];
        }
      }
      out.by_event_type.push_back(std::move(m));
    }
  }
  if (options.popularity) {
    ranking::EvaluateOptions eo;
    eo.k = options.k;
    eo.threads = options.threads;
    ASSIGN_OR_RETURN(out.popularity,
                     ranking::EvaluateRanking(train, test.user_items(),
                                              ranking::FixedScorer(ranking::ItemPopularity(train)),
                                              eo));
  }
  return out;
}

absl::StatusOr<RankingMetrics> EvaluateOnTestFile(const ranking::FactorModel& model,
                                                  const ranking::CsrMatrix& train,
                                                  const std::string& test_path, int32_t k,
                                                  int32_t threads, RankingMetrics* popularity,
                                                  const ranking::LoadOptions& load) {
  TestEvaluationOptions options;
  options.k = k;
  options.threads = threads;
  options.popularity = popularity != nullptr;
  options.load = load;
  ASSIGN_OR_RETURN(TestEvaluation e, EvaluateTestFile(model, train, test_path, options));
  if (popularity != nullptr) *popularity = e.popularity;
  return e.metrics;
}

absl::StatusOr<ranking::FactorState> LoadTrainingCheckpoint(const std::string& out,
                                                    const TrainParams& params,
                                                    const ranking::Interactions& data) {
  ASSIGN_OR_RETURN(ranking::FactorModel m, ranking::FactorModel::Load(out));
  TrainParams a = m.manifest().params(), b = params;
  a.set_threads(0);
  b.set_threads(0);
  if (a.SerializeAsString() != b.SerializeAsString()) {
    return absl::FailedPreconditionError(absl::StrCat(
        out, ": checkpoint was trained with different parameters (",
        a.ShortDebugString(), ") than requested (", b.ShortDebugString(), ")"));
  }
  if (m.num_users() != data.num_users() || m.num_items() != data.num_items()) {
    return absl::FailedPreconditionError(
        absl::StrCat(out, ": checkpoint has ", m.num_users(), " users x ", m.num_items(),
                     " items, the input ", data.num_users(), " x ", data.num_items()));
  }
  for (int32_t u = 0; u < m.num_users(); ++u) {
    if (m.users().Name(u) != data.users().Name(u)) {
      return absl::FailedPreconditionError(absl::StrCat(out, ": checkpoint user ids differ"));
    }
  }
  for (int32_t i = 0; i < m.num_items(); ++i) {
    if (m.items().Name(i) != data.items().Name(i)) {
      return absl::FailedPreconditionError(absl::StrCat(out, ": checkpoint item ids differ"));
    }
  }
  ranking::FactorState s;
  s.factors = m.factors();
  s.user_factors.assign(m.user_factors().begin(), m.user_factors().end());
  s.item_factors.assign(m.item_factors().begin(), m.item_factors().end());
  s.item_bias.assign(m.item_bias().begin(), m.item_bias().end());
  s.iterations_done = m.manifest().iterations_done();
  return s;
}

}  // namespace recbandit::services
