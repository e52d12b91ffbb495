// Batch recommendation (batch transform): the top K items of many users
// written to one file, shared by `recbandit recommend --all_users` and the
// server's BatchRecommend jobs, so both write the same bytes.
#ifndef RECBANDIT_SERVICES_SERVING_BATCH_RECOMMEND_H_
#define RECBANDIT_SERVICES_SERVING_BATCH_RECOMMEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/reports.pb.h"
#include "retrieval/item_index.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {

struct BatchRecommendOptions {
  int32_t k = 10;             // 1..1000
  bool exclude_seen = true;   // leave out each user's training items
  retrieval::SearchParams search;
  int32_t threads = 1;        // search threads, 1..256
  std::string format = "jsonl";  // "jsonl" or "csv"
  // Users in output order; empty = every user of the model in its order. A
  // user unknown to the model gets ServingModel::Recommend's popularity
  // fallback.
  std::vector<std::string> users;
  // Catalog filter (hidden items, BatchRecommendRequest.filter); null =
  // every item allowed. Its rows are computed once for the model.
  std::shared_ptr<const RowFilter> filter;
  // Hears (users done, users total) after every chunk; may be empty.
  std::function<void(int64_t, int64_t)> progress;
  // When set and true, stops between chunks with CANCELLED (no file
  // written). May be empty.
  std::function<bool()> stop;
};

// Users searched per chunk: progress and cancellation happen between chunks;
// results do not depend on it.
inline constexpr int32_t kBatchRecommendChunk = 4096;

// Returns INVALID_ARGUMENT naming `field` unless `format` is jsonl or csv.
absl::Status ValidateBatchFormat(const std::string& format, const std::string& field);

// Writes the recommendations of `options.users` (or every user) to
// `out_path` atomically (chunk by chunk to <out_path>.tmp, then fsync and
// rename; the temp file is removed on cancel or error, and memory holds one
// chunk): JSON lines {"user","items":[{"item","score"}],
// "fallback"} or CSV rows user,rank,item,score (after a header line).
// Returns the report (users, seconds spent searching, index kind).
// INVALID_ARGUMENT for options out of bounds; I/O errors naming the file.
absl::StatusOr<BatchRecommendReport> WriteBatchRecommendations(
    const ServingModel& model, const std::string& out_path, const BatchRecommendOptions& options);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_BATCH_RECOMMEND_H_
