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
  RecommendResult result;
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
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format != "jsonl" && format != "csv") {
    return absl::InvalidArgumentError(
        absl::StrCat("--format must be jsonl or csv, got ", Quote(format)));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> serving, ServingModel::Load(model_dir));
  const ranking::FactorModel& model = serving->model();
  const auto start = std::chrono::steady_clock::now();
  // In chunks of users, so the progress bar moves; results equal one batch.
  constexpr int32_t kChunk = 4096;
  const int32_t num_users = model.num_users();
  ProgressReporter progress("recommend", num_users);
  std::vector<Recommendation> recs;
  recs.reserve(num_users);
  std::vector<int32_t> chunk;
  for (int32_t begin = 0; begin < num_users; begin += kChunk) {
    chunk.clear();
    for (int32_t u = begin; u < std::min(num_users, begin + kChunk); ++u) chunk.push_back(u);
    ASSIGN_OR_RETURN(std::vector<Recommendation> part,
                     serving->RecommendBatch(chunk, absl::GetFlag(FLAGS_k),
                                             absl::GetFlag(FLAGS_exclude_seen),
                                             SearchParamsFromFlags(), ThreadsFromFlag()));
    for (Recommendation& r : part) recs.push_back(std::move(r));
    progress.Update(static_cast<int64_t>(recs.size()));
  }
  progress.Finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string text;
  if (format == "csv") text = "user,rank,item,score\n";
  char buf[64];
  for (int32_t u = 0; u < model.num_users(); ++u) {
    const std::string& user = model.users().Name(u);
    if (format == "csv") {
      for (size_t r = 0; r < recs[u].items.size(); ++r) {
        auto res = std::to_chars(buf, buf + sizeof(buf), recs[u].items[r].score);
        absl::StrAppend(&text, user, ",", r + 1, ",", recs[u].items[r].item, ",",
                        absl::string_view(buf, res.ptr - buf), "\n");
      }
    } else {
      text.append("{\"user\":");
      AppendJsonString(user, &text);
      text.append(",\"items\":[");
      for (size_t r = 0; r < recs[u].items.size(); ++r) {
        if (r > 0) text.push_back(',');
        text.append("{\"item\":");
        AppendJsonString(recs[u].items[r].item, &text);
        auto res = std::to_chars(buf, buf + sizeof(buf), recs[u].items[r].score);
        absl::StrAppend(&text, ",\"score\":", absl::string_view(buf, res.ptr - buf), "}");
      }
      text.append("],\"fallback\":false}\n");
    }
  }
  RETURN_IF_ERROR(WriteFileAtomically(out_path, text));
  BatchRecommendReport report;
  report.set_users(model.num_users());
  report.set_out(out_path);
  report.set_seconds(seconds);
  report.set_users_per_second(seconds > 0 ? model.num_users() / seconds : 0);
  report.set_index_factory(serving->index().factory());
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

}  // namespace recbandit::services
