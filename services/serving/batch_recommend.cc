// WriteBatchRecommendations: chunks of users through the model's index
// (ServingModel::RecommendBatch), the fallback for unknown users, the one
// JSON-lines / CSV rendering of the result, streamed to a temp file that is
// renamed into place.
#include "services/serving/batch_recommend.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {
namespace {

// Appends one user's lines in `format` to `text`; a JSON line has the keys
// of `recbandit recommend --user=`'s (RecommendResult).
void AppendUser(const std::string& format, const std::string& user, const Recommendation& rec,
                int64_t model_version, std::string* text) {
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
  absl::StrAppend(text, "],\"fallback\":", rec.fallback ? "true" : "false",
                  ",\"model_version\":", model_version, "}\n");
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
  // Written chunk by chunk to <out>.tmp (memory stays one chunk), fsynced
  // and renamed onto `out_path` at the end; removed on cancel or error.
  const std::string tmp = out_path + ".tmp";
  std::FILE* file = std::fopen(tmp.c_str(), "w");
  if (file == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", PathForMessage(tmp), ": ", std::strerror(errno)));
  }
  auto fail = [&](absl::Status status) {
    if (file != nullptr) std::fclose(file);
    file = nullptr;
    ::unlink(tmp.c_str());
    return status;
  };
  auto flush_text = [&](std::string* text) -> absl::Status {
    if (!text->empty() && std::fwrite(text->data(), 1, text->size(), file) != text->size()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot write ", PathForMessage(tmp), ": ", std::strerror(errno)));
    }
    text->clear();
    return absl::OkStatus();
  };
  std::shared_ptr<const FilteredRows> rows;
  if (options.filter != nullptr) rows = options.filter->Rows(model);
  std::string text;
  if (options.format == "csv") text = "user,rank,item,score\n";
  double seconds = 0;
  std::vector<int32_t> known;       // dense ids of the chunk's known users
  std::vector<int64_t> known_at;    // their positions in the chunk
  std::vector<Recommendation> recs;
  for (int64_t begin = 0; begin < total; begin += kBatchRecommendChunk) {
    if (options.stop && options.stop()) return fail(absl::CancelledError("cancelled"));
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
      query.filter = options.filter;
      absl::StatusOr<Recommendation> one = model.Recommend(query);
      if (!one.ok()) return fail(one.status());
      recs[i - begin] = *std::move(one);
    }
    if (!known.empty()) {  // (an empty list would mean every user)
      absl::StatusOr<std::vector<Recommendation>> part = model.RecommendBatch(
          known, options.k, options.exclude_seen, options.search, options.threads, rows.get());
      if (!part.ok()) return fail(part.status());
      for (size_t j = 0; j < part->size(); ++j) recs[known_at[j]] = std::move((*part)[j]);
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (int64_t i = begin; i < end; ++i) {
      const std::string& user = all ? factors.users().Name(static_cast<int32_t>(i))
                                    : options.users[i];
      AppendUser(options.format, user, recs[i - begin], model.version(), &text);
    }
    if (absl::Status w = flush_text(&text); !w.ok()) return fail(w);
    if (options.progress) options.progress(end, total);
  }
  if (absl::Status w = flush_text(&text); !w.ok()) return fail(w);
  if (options.stop && options.stop()) return fail(absl::CancelledError("cancelled"));
  if (std::fflush(file) != 0 || ::fsync(::fileno(file)) != 0) {
    return fail(absl::ResourceExhaustedError(
        absl::StrCat("cannot write ", PathForMessage(tmp), ": ", std::strerror(errno))));
  }
  if (std::fclose(file) != 0) {
    file = nullptr;
    return fail(absl::ResourceExhaustedError(
        absl::StrCat("cannot close ", PathForMessage(tmp), ": ", std::strerror(errno))));
  }
  file = nullptr;
  if (::rename(tmp.c_str(), out_path.c_str()) != 0) {
    return fail(absl::PermissionDeniedError(
        absl::StrCat("cannot rename to ", PathForMessage(out_path), ": ", std::strerror(errno))));
  }
  const std::string folder = std::filesystem::path(out_path).parent_path().string();
  RETURN_IF_ERROR(SyncDir(folder.empty() ? "." : folder));
  BatchRecommendReport report;
  report.set_users(total);
  report.set_out(out_path);
  report.set_seconds(seconds);
  report.set_users_per_second(seconds > 0 ? total / seconds : 0);
  report.set_index_factory(model.index().factory());
  return report;
}

}  // namespace recbandit::services
