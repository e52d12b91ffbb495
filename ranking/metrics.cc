// Ranking metrics over batches of users, in parallel, summed in a fixed order.
#include "ranking/metrics.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "ranking/simd.h"
#include "ranking/topk.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace recbandit::ranking {
namespace {

constexpr int32_t kBatch = 64;

struct UserResult {
  bool evaluated = false;
  double precision = 0, recall = 0, ndcg = 0, ap = 0, rr = 0, hit = 0;
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

UserResult EvaluateUser(absl::Span<const float> scores, absl::Span<const int32_t> train,
                        absl::Span<const int32_t> test_all, int32_t k,
                        std::vector<int32_t>* recommended, std::vector<int32_t>* test_buf) {
  UserResult r;
  test_buf->clear();
  for (int32_t t : test_all) {
    if (!std::binary_search(train.begin(), train.end(), t)) test_buf->push_back(t);
  }
  const std::vector<int32_t>& test = *test_buf;  // sorted (CSR rows are)
  if (test.empty()) return r;
  r.evaluated = true;
  const std::vector<ScoredIndex> top = TopK(scores, k, train);
  double dcg = 0;
  int32_t hits = 0;
  double ap = 0;
  for (size_t pos = 0; pos < top.size(); ++pos) {
    recommended->push_back(top[pos].index);
    if (std::binary_search(test.begin(), test.end(), top[pos].index)) {
      ++hits;
      dcg += 1.0 / std::log2(pos + 2.0);
      ap += static_cast<double>(hits) / (pos + 1.0);
      if (hits == 1) r.rr = 1.0 / (pos + 1.0);
    }
  }
  const int32_t ideal = std::min<int32_t>(k, static_cast<int32_t>(test.size()));
  double idcg = 0;
  for (int32_t p = 0; p < ideal; ++p) idcg += 1.0 / std::log2(p + 2.0);
  r.precision = static_cast<double>(hits) / k;
  r.recall = static_cast<double>(hits) / test.size();
  r.ndcg = dcg / idcg;
  r.ap = ap / ideal;
  r.hit = hits > 0 ? 1.0 : 0.0;
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

absl::StatusOr<RankingMetrics> EvaluateRanking(const CsrMatrix& train, const CsrMatrix& test,
                                               const BatchScorer& scorer,
                                               const EvaluateOptions& options) {
  if (options.k < 1 || options.k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("k = ", options.k, " is out of range (1..1000)"));
  }
  if (options.threads < 1 || options.threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads = ", options.threads, " is out of range (1..256)"));
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
  std::vector<std::vector<char>> covered(options.threads, std::vector<char>(n_items, 0));
  const int64_t batches = (static_cast<int64_t>(users.size()) + kBatch - 1) / kBatch;
#pragma omp parallel num_threads(options.threads)
  {
    std::vector<float> scores;
    std::vector<int32_t> recommended, test_buf;
#ifdef _OPENMP
    std::vector<char>& mine = covered[omp_get_thread_num()];
#else
    std::vector<char>& mine = covered[0];
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
        recommended.clear();
        results[begin + x] = EvaluateUser(
            absl::MakeConstSpan(scores.data() + x * n_items, n_items), train.RowIndices(u),
            test.RowIndices(u), options.k, &recommended, &test_buf);
        for (int32_t i : recommended) mine[i] = 1;
      }
    }
  }
  RankingMetrics m;
  m.set_k(options.k);
  int64_t n = 0, n_auc = 0;
  double p = 0, r = 0, ndcg = 0, ap = 0, rr = 0, hit = 0, auc = 0;
  for (const UserResult& x : results) {
    if (!x.evaluated) continue;
    ++n;
    p += x.precision;
    r += x.recall;
    ndcg += x.ndcg;
    ap += x.ap;
    rr += x.rr;
    hit += x.hit;
    if (x.has_auc) {
      ++n_auc;
      auc += x.auc;
    }
  }
  int64_t distinct = 0;
  for (int32_t i = 0; i < n_items; ++i) {
    for (const auto& c : covered) {
      if (c[i]) {
        ++distinct;
        break;
      }
    }
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
  if (n_items > 0) m.set_coverage(static_cast<double>(distinct) / n_items);
  return m;
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
