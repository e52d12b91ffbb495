// `recbandit index` (build or rebuild a model's item index), `recbandit
// similar`, and batch recommendation for every user (`recommend --all_users`).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/progress.h"
#include "proto/reports.pb.h"
#include "proto/core/status_macros.h"
#include "services/cli/cli.h"
#include "services/serving/batch_recommend.h"
#include "services/serving/model_builder.h"
#include "services/cli/flags.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {

retrieval::SearchParams SearchParamsFromFlags() {
  retrieval::SearchParams p;
  p.ef_search = absl::GetFlag(FLAGS_ef_search);
  p.nprobe = absl::GetFlag(FLAGS_nprobe);
  return p;
}

absl::Status RunIndex(const CommandArgs& args) {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  const std::string factory = absl::GetFlag(FLAGS_index);
  if (model_dir.empty() || factory.empty()) {
    return absl::InvalidArgumentError(
        "usage: recbandit index --model=<model dir> --index=<factory string, e.g. HNSW32>");
  }
  IndexReport report;
  std::unique_ptr<ProgressReporter> progress;
  RETURN_IF_ERROR(BuildModelIndex(model_dir, factory, ThreadsFromFlag(), &report,
                                  ReportProgressTo(absl::StrCat("index ", factory, " items"),
                                                   &progress)));
  if (progress) progress->Finish(absl::StrFormat("in %.1f s", report.build_seconds()));
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

absl::Status RunSimilar(const CommandArgs& args) {
  const std::string model_dir = absl::GetFlag(FLAGS_model);
  const std::string item = absl::GetFlag(FLAGS_item);
  if (model_dir.empty() || item.empty()) {
    return absl::InvalidArgumentError("usage: recbandit similar --model=<dir> --item=<id> --k=");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> serving, ServingModel::Load(model_dir));
  ASSIGN_OR_RETURN(Recommendation rec, serving->Similar(item, absl::GetFlag(FLAGS_k)));
  SimilarResult result;
  result.set_item(item);
  result.set_model_version(serving->version());
  for (const ScoredItemId& s : rec.items) {
    ScoredItem* out = result.add_items();
    out->set_item(s.item);
    out->set_score(s.score);
  }
  PrintJsonLine(ToJson(result));
  return absl::OkStatus();
}

absl::Status RunRecommendAllUsers(const std::string& model_dir, const std::string& out_path) {
  if (out_path.empty()) return absl::InvalidArgumentError("--all_users needs --out=<file>");
  BatchRecommendOptions options;
  options.format = absl::GetFlag(FLAGS_format);
  RETURN_IF_ERROR(ValidateBatchFormat(options.format, "--format"));
  options.k = absl::GetFlag(FLAGS_k);
  if (options.k < 1 || options.k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("--k = ", options.k, " is out of range (1..1000)"));
  }
  options.exclude_seen = absl::GetFlag(FLAGS_exclude_seen);
  options.search = SearchParamsFromFlags();
  options.threads = ThreadsFromFlag();
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> serving, ServingModel::Load(model_dir));
  ProgressReporter progress("recommend", serving->model().num_users());
  options.progress = [&progress](int64_t done, int64_t) { progress.Update(done); };
  absl::StatusOr<BatchRecommendReport> report =
      WriteBatchRecommendations(*serving, out_path, options);
  progress.Finish();
  if (!report.ok()) return report.status();
  PrintJsonLine(ToJson(*report));
  return absl::OkStatus();
}

}  // namespace recbandit::services
