// WriteBatchRecommendations: chunks of users through the model's index
// (ServingModel::RecommendBatch), the fallback for unknown users, and the one
// JSON-lines / CSV rendering of the result.
#include "services/serving/batch_recommend.h"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {
namespace {

// Appends one user's lines in `format` to `text`.
void AppendUser(const std::string& format, const std::string& user, const Recommendation& rec,
                std::string* text) {
  char buf[64];
  auto number = [&buf](float score) {
    auto res = std::to_chars(buf, buf + sizeof(buf), score);
    return absl::string_view(buf, res.ptr - buf);
  };
  if (format == "csv") {
    for (size_t r = 0; r < rec.items.size(); ++r) {
      absl::StrAppend(text, user, ",", r + 1, ",", rec.items[r].item, ",",
                      number(rec.items[r].score), "\n");
    }
    return;
  }
  text->append("{\"user\":");
  AppendJsonString(user, text);
  text->append(",\"items\":[");
  for (size_t r = 0; r < rec.items.size(); ++r) {
    if (r > 0) text->push_back(',');
    text->append("{\"item\":");
    AppendJsonString(rec.items[r].item, text);
    absl::StrAppend(text, ",\"score\":", number(rec.items[r].score), "}");
  }
  absl::StrAppend(text, "],\"fallback\":", rec.fallback ? "true" : "false", "}\n");
}

}  // namespace

absl::Status ValidateBatchFormat(const std::string& format, const std::string& field) {
  if (format == "jsonl" || format == "csv") return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be jsonl or csv, got ", Quote(format)));
}

absl::StatusOr<BatchRecommendReport> WriteBatchRecommendations(
    const ServingModel& model, const std::string& out_path, const BatchRecommendOptions& options) {
  RETURN_IF_ERROR(ValidateBatchFormat(options.format, "format"));
  if (options.k < 1 || options.k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("k = ", options.k, " is out of range (1..1000)"));
  }
  const ranking::FactorModel& factors = model.model();
  const bool all = options.users.empty();
  const int64_t total = all ? factors.num_users() : static_cast<int64_t>(options.users.size());
  std::string text;
  if (options.format == "csv") text = "user,rank,item,score\n";
  double seconds = 0;
  std::vector<int32_t> known;       // dense ids of the chunk's known users
  std::vector<int64_t> known_at;    // their positions in the chunk
  std::vector<Recommendation> recs;
  for (int64_t begin = 0; begin < total; begin += kBatchRecommendChunk) {
    if (options.stop && options.stop()) return absl::CancelledError("cancelled");
    const int64_t end = std::min<int64_t>(total, begin + kBatchRecommendChunk);
    const auto start = std::chrono::steady_clock::now();
    known.clear();
    known_at.clear();
    recs.assign(end - begin, Recommendation());
    for (int64_t i = begin; i < end; ++i) {
      const int32_t id = all ? static_cast<int32_t>(i) : factors.users().Find(options.users[i]);
      if (id >= 0) {
        known.push_back(id);
        known_at.push_back(i - begin);
        continue;
      }
      RecommendQuery query;
      query.user = options.users[i];
      query.k = options.k;
      query.exclude_seen = options.exclude_seen;
      query.search = options.search;
      ASSIGN_OR_RETURN(recs[i - begin], model.Recommend(query));
    }
    if (!known.empty()) {  // (an empty list would mean every user)
      ASSIGN_OR_RETURN(std::vector<Recommendation> part,
                       model.RecommendBatch(known, options.k, options.exclude_seen,
                                            options.search, options.threads));
      for (size_t j = 0; j < part.size(); ++j) recs[known_at[j]] = std::move(part[j]);
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int64_t i = begin; i < end; ++i) {
      const std::string& user = all ? factors.users().Name(static_cast<int32_t>(i))
                                    : options.users[i];
      AppendUser(options.format, user, recs[i - begin], &text);
    }
    if (options.progress) options.progress(end, total);
  }
  if (options.stop && options.stop()) return absl::CancelledError("cancelled");
  RETURN_IF_ERROR(WriteFileAtomically(out_path, text));
  BatchRecommendReport report;
  report.set_users(total);
  report.set_out(out_path);
  report.set_seconds(seconds);
  report.set_users_per_second(seconds > 0 ? total / seconds : 0);
  report.set_index_factory(model.index().factory());
  return report;
}

}  // namespace recbandit::services
