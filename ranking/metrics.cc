// Ranking metrics over batches of users, in parallel, summed in a fixed order.
#include "ranking/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/core/status_macros.h"
#include "ranking/simd.h"
#include "ranking/topk.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace recbandit::ranking {
namespace {

constexpr int32_t kBatch = 64;

// One user's figures at each cut-off (same order as the cut-offs).
struct UserResult {
  bool evaluated = false;
  struct AtK {
    double precision = 0, recall = 0, ndcg = 0, ap = 0, rr = 0, hit = 0;
  };
  std::vector<AtK> at;
  double auc = 0;
  bool has_auc = false;
};

// Counts the entries of s[0, n) below and equal to `x`.
RECBANDIT_MULTIVERSION
void CountBelowEqual(const float* s, int32_t n, float x, int64_t* below, int64_t* equal) {
  int32_t lt = 0, eq = 0;
#pragma omp simd reduction(+ : lt, eq)
  for (int32_t j = 0; j < n; ++j) {
    lt += s[j] < x ? 1 : 0;
    eq += s[j] == x ? 1 : 0;
  }
  *below = lt;
  *equal = eq;
}

// `ks` ascending: one top-ks.back() list, each cut-off read from its prefix
// (TopK breaks ties by index, so the prefix is the top list at that k).
UserResult EvaluateUser(absl::Span<const float> scores, absl::Span<const int32_t> train,
                        absl::Span<const int32_t> test_all, absl::Span<const int32_t> ks,
                        std::vector<ScoredIndex>* top_out, std::vector<int32_t>* test_buf) {
  UserResult r;
  test_buf->clear();
  for (int32_t t : test_all) {
    if (!std::binary_search(train.begin(), train.end(), t)) test_buf->push_back(t);
  }
  const std::vector<int32_t>& test = *test_buf;  // sorted (CSR rows are)
  top_out->clear();
  if (test.empty()) return r;
  r.evaluated = true;
  *top_out = TopK(scores, ks.back(), train);
  const std::vector<ScoredIndex>& top = *top_out;
  r.at.resize(ks.size());
  double dcg = 0, ap = 0, rr = 0;
  int32_t hits = 0;
  size_t pos = 0;
  for (size_t c = 0; c < ks.size(); ++c) {
    const int32_t k = ks[c];
    for (; pos < top.size() && pos < static_cast<size_t>(k); ++pos) {
      if (std::binary_search(test.begin(), test.end(), top[pos].index)) {
        ++hits;
        dcg += 1.0 / std::log2(pos + 2.0);
        ap += static_cast<double>(hits) / (pos + 1.0);
        if (hits == 1) rr = 1.0 / (pos + 1.0);
      }
    }
    const int32_t ideal = std::min<int32_t>(k, static_cast<int32_t>(test.size()));
    double idcg = 0;
    for (int32_t p = 0; p < ideal; ++p) idcg += 1.0 / std::log2(p + 2.0);
    UserResult::AtK& a = r.at[c];
    a.precision = static_cast<double>(hits) / k;
    a.recall = static_cast<double>(hits) / test.size();
    a.ndcg = dcg / idcg;
    a.ap = ap / ideal;
    a.rr = rr;
    a.hit = hits > 0 ? 1.0 : 0.0;
  }
  // AUC: positives = test, negatives = items in neither row. For each
  // positive, count all items scored below / equal to it (one vectorized
  // pass), then take out the training and test items.
  const int64_t negatives = static_cast<int64_t>(scores.size()) -
                            static_cast<int64_t>(train.size()) -
                            static_cast<int64_t>(test.size());
  double wins = 0;
  for (int32_t p : test) {
    const float sp = scores[p];
    int64_t below = 0, equal = 0;
    CountBelowEqual(scores.data(), static_cast<int32_t>(scores.size()), sp, &below, &equal);
    for (int32_t t : train) {
      below -= scores[t] < sp;
      equal -= scores[t] == sp;
    }
    for (int32_t t : test) {
      below -= scores[t] < sp;
      equal -= scores[t] == sp;
    }
    wins += static_cast<double>(below) + 0.5 * static_cast<double>(equal);
  }
  if (negatives > 0) {
    r.has_auc = true;
    r.auc = wins / (static_cast<double>(negatives) * test.size());
  }
  return r;
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> ParseCutoffs(absl::string_view list,
                                                  absl::string_view field) {
  std::vector<int32_t> ks;
  for (absl::string_view part : absl::StrSplit(list, ',')) {
    int32_t k = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &k) || k < 1 || k > 1000) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": each cut-off must be an integer in 1..1000, got '",
          absl::CEscape(part.substr(0, 32)), "'"));
    }
    ks.push_back(k);
  }
  if (ks.size() > 16) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": at most 16 cut-offs, got ", ks.size()));
  }
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  return ks;
}

absl::StatusOr<std::vector<RankingMetrics>> EvaluateRankingAtCutoffs(
    const CsrMatrix& train, const CsrMatrix& test, const BatchScorer& scorer,
    absl::Span<const int32_t> ks, int32_t threads) {
  if (ks.empty() || ks.size() > 16) {
    return absl::InvalidArgumentError(absl::StrCat("1..16 cut-offs, got ", ks.size()));
  }
  for (size_t c = 0; c < ks.size(); ++c) {
    if (ks[c] < 1 || ks[c] > 1000) {
      return absl::InvalidArgumentError(absl::StrCat("k = ", ks[c], " is out of range (1..1000)"));
    }
    if (c > 0 && ks[c] <= ks[c - 1]) {
      return absl::InvalidArgumentError("cut-offs must be ascending and distinct");
    }
  }
  if (threads < 1 || threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads = ", threads, " is out of range (1..256)"));
  }
  if (train.rows != test.rows || train.cols != test.cols) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train is ", train.rows, " x ", train.cols, " but test is ", test.rows, " x ",
        test.cols));
  }
  const int32_t n_items = train.cols;
  std::vector<int32_t> users;
  for (int32_t u = 0; u < test.rows; ++u) {
    if (test.RowSize(u) > 0) users.push_back(u);
  }
  std::vector<UserResult> results(users.size());
  // Per thread, each item's best (lowest) rank in any user's list: the item
  // counts towards coverage at every k above that rank.
  constexpr int32_t kNever = std::numeric_limits<int32_t>::max();
  std::vector<std::vector<int32_t>> best_rank(threads, std::vector<int32_t>(n_items, kNever));
  const int64_t batches = (static_cast<int64_t>(users.size()) + kBatch - 1) / kBatch;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> scores;
    std::vector<ScoredIndex> top;
    std::vector<int32_t> test_buf;
#ifdef _OPENMP
    std::vector<int32_t>& mine = best_rank[omp_get_thread_num()];
#else
    std::vector<int32_t>& mine = best_rank[0];
#endif
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t begin = b * kBatch;
      const int64_t end = std::min<int64_t>(users.size(), begin + kBatch);
      const absl::Span<const int32_t> batch(users.data() + begin, end - begin);
      scores.assign(batch.size() * static_cast<size_t>(n_items), 0.0f);
      scorer(batch, absl::MakeSpan(scores));
      for (size_t x = 0; x < batch.size(); ++x) {
        const int32_t u = batch[x];
        results[begin + x] = EvaluateUser(
            absl::MakeConstSpan(scores.data() + x * n_items, n_items), train.RowIndices(u),
            test.RowIndices(u), ks, &top, &test_buf);
        for (size_t pos = 0; pos < top.size(); ++pos) {
          mine[top[pos].index] = std::min<int32_t>(mine[top[pos].index], pos);
        }
      }
    }
  }
  std::vector<int32_t> rank(n_items, kNever);
  for (const auto& per_thread : best_rank) {
    for (int32_t i = 0; i < n_items; ++i) rank[i] = std::min(rank[i], per_thread[i]);
  }
  std::vector<RankingMetrics> out(ks.size());
  int64_t n_auc = 0;
  double auc = 0;
  for (const UserResult& x : results) {
    if (x.evaluated && x.has_auc) {
      ++n_auc;
      auc += x.auc;
    }
  }
  for (size_t c = 0; c < ks.size(); ++c) {
    RankingMetrics& m = out[c];
    m.set_k(ks[c]);
    int64_t n = 0;
    double p = 0, r = 0, ndcg = 0, ap = 0, rr = 0, hit = 0;
    for (const UserResult& x : results) {  // users in order: sums do not depend on threads
      if (!x.evaluated) continue;
      ++n;
      p += x.at[c].precision;
      r += x.at[c].recall;
      ndcg += x.at[c].ndcg;
      ap += x.at[c].ap;
      rr += x.at[c].rr;
      hit += x.at[c].hit;
    }
    m.set_users_evaluated(n);
    if (n > 0) {
      m.set_precision_at_k(p / n);
      m.set_recall_at_k(r / n);
      m.set_ndcg_at_k(ndcg / n);
      m.set_map_at_k(ap / n);
      m.set_mrr(rr / n);
      m.set_hit_rate(hit / n);
    }
    if (n_auc > 0) m.set_auc(auc / n_auc);
    if (n_items > 0) {
      const int64_t distinct = std::count_if(rank.begin(), rank.end(),
                                             [k = ks[c]](int32_t r) { return r < k; });
      m.set_coverage(static_cast<double>(distinct) / n_items);
    }
  }
  return out;
}

absl::StatusOr<RankingMetrics> EvaluateRanking(const CsrMatrix& train, const CsrMatrix& test,
                                               const BatchScorer& scorer,
                                               const EvaluateOptions& options) {
  const int32_t k = options.k;
  ASSIGN_OR_RETURN(std::vector<RankingMetrics> at,
                   EvaluateRankingAtCutoffs(train, test, scorer, absl::MakeConstSpan(&k, 1),
                                            options.threads));
  return std::move(at[0]);
}

BatchScorer ModelScorer(const FactorModel& model) {
  return [&model](absl::Span<const int32_t> users, absl::Span<float> out) {
    const int32_t d = model.factors();
    std::vector<float> block(users.size() * static_cast<size_t>(d));
    for (size_t b = 0; b < users.size(); ++b) {
      const absl::Span<const float> v = model.UserVector(users[b]);
      std::copy(v.begin(), v.end(), block.begin() + b * d);
    }
    ScoreBlock(block, model.item_factors(), d, model.item_bias(), out);
  };
}

BatchScorer FixedScorer(std::vector<float> scores) {
  return [scores = std::move(scores)](absl::Span<const int32_t> users, absl::Span<float> out) {
    for (size_t b = 0; b < users.size(); ++b) {
      std::copy(scores.begin(), scores.end(), out.begin() + b * scores.size());
    }
  };
}

}  // namespace recbandit::ranking
