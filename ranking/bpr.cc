// BPR SGD: per-thread seeded sampling of (u, i, j), fused update kernel.
#include "ranking/bpr.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "absl/strings/str_cat.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "ranking/simd.h"

namespace recbandit::ranking {
namespace {

constexpr int kMaxNegativeTries = 32;

struct EpochInput {
  const CsrMatrix* m;
  int32_t d;
  float lr;
  float reg;
  bool popularity;
  bool item_bias;
  bool compute_loss;
};

bool RowContains(const int32_t* begin, const int32_t* end, int32_t item) {
  const int32_t* it = std::lower_bound(begin, end, item);
  return it != end && *it == item;
}

// Visits the users order[begin, end) and, for each, every positive i once
// with one sampled negative j; returns the summed loss (0 unless compute_loss).
// Keeping one user's row hot across its positives is what makes this fast.
RECBANDIT_MULTIVERSION
double EpochChunk(const EpochInput& in, const int32_t* order, int64_t begin, int64_t end,
                  uint64_t seed, float* users, float* items, float* bias) {
  Rng rng(seed);
  const CsrMatrix& m = *in.m;
  const uint64_t nnz = static_cast<uint64_t>(m.nnz());
  const int32_t d = in.d;
  const float lr = in.lr;
  const float reg = in.reg;
  double loss = 0;
  for (int64_t o = begin; o < end; ++o) {
   const int32_t u = order[o];
   if (o + 1 < end) {  // the next user's row, from DRAM at scale
     const float* next_user = users + int64_t{order[o + 1]} * d;
     for (int32_t f = 0; f < d; f += 16) __builtin_prefetch(next_user + f);
   }
   const int32_t* row_begin = m.indices.data() + m.indptr[u];
   const int32_t* row_end = m.indices.data() + m.indptr[u + 1];
   // Draws a negative for u (-1 when every try hit a positive).
   auto draw_negative = [&]() {
     for (int t = 0; t < kMaxNegativeTries; ++t) {
       const int32_t cand = in.popularity
                                ? m.indices[rng.UniformInt(nnz)]
                                : static_cast<int32_t>(rng.UniformInt(m.cols));
       if (!RowContains(row_begin, row_end, cand)) return cand;
     }
     return int32_t{-1};
   };
   // The negative of the next triple is drawn one step ahead so that both of
   // its item rows can be prefetched while the current triple is updated.
   int32_t next_j = row_begin != row_end ? draw_negative() : -1;
   for (const int32_t* pi = row_begin; pi != row_end; ++pi) {
    const int32_t i = *pi;
    const int32_t j = next_j;
    if (pi + 1 != row_end) {
      next_j = draw_negative();
      const float* ni = items + int64_t{pi[1]} * d;
      for (int32_t f = 0; f < d; f += 16) __builtin_prefetch(ni + f);
      if (next_j >= 0) {
        const float* nj = items + int64_t{next_j} * d;
        for (int32_t f = 0; f < d; f += 16) __builtin_prefetch(nj + f);
      }
    }
    if (j < 0) continue;
    float* x = users + int64_t{u} * d;
    float* yi = items + int64_t{i} * d;
    float* yj = items + int64_t{j} * d;
    float score = 0;
#pragma omp simd reduction(+ : score)
    for (int32_t f = 0; f < d; ++f) score += x[f] * (yi[f] - yj[f]);
    if (in.item_bias) score += bias[i] - bias[j];
    const float z = 1.0f / (1.0f + std::exp(score));  // sigmoid(-score)
    if (in.compute_loss) loss += std::log1p(std::exp(-static_cast<double>(score)));
#pragma omp simd
    for (int32_t f = 0; f < d; ++f) {
      const float xf = x[f];
      const float gi = yi[f];
      const float gj = yj[f];
      x[f] = xf + lr * (z * (gi - gj) - reg * xf);
      yi[f] = gi + lr * (z * xf - reg * gi);
      yj[f] = gj + lr * (-z * xf - reg * gj);
    }
    if (in.item_bias) {
      bias[i] += lr * (z - reg * bias[i]);
      bias[j] += lr * (-z - reg * bias[j]);
    }
   }
  }
  return loss;
}

}  // namespace

absl::Status ValidateBprOptions(const BprOptions& o) {
  RETURN_IF_ERROR(ValidateSharedOptions("BPR", o.factors, o.regularization, o.threads));
  if (o.epochs < 1 || o.epochs > 10000) {
    return OptionOutOfRange("BPR", "epochs", o.epochs, "1..10000");
  }
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    return OptionOutOfRange("BPR", "learning_rate", o.learning_rate, "> 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<FactorState> BprTrainer::Fit(const Interactions& data,
                                           const FactorState* resume,
                                           const IterationCallback& callback) const {
  RETURN_IF_ERROR(ValidateBprOptions(options_));
  const BprOptions& o = options_;
  const int64_t d = o.factors;
  const CsrMatrix& m = data.user_items();
  if (m.nnz() == 0) return absl::InvalidArgumentError("no interactions to train on");
  if (m.cols < 2) return absl::InvalidArgumentError("BPR needs at least 2 items");
  FactorState state;
  if (resume != nullptr) {
    RETURN_IF_ERROR(CheckResume(*resume, data, o.factors, o.item_bias, o.epochs, "epochs"));
    state = *resume;
  } else {
    state.factors = o.factors;
    Rng rng(o.seed);
    state.user_factors.resize(data.num_users() * d);
    state.item_factors.resize(data.num_items() * d);
    for (float& v : state.user_factors) v = static_cast<float>((rng.Uniform() - 0.5) / d);
    for (float& v : state.item_factors) v = static_cast<float>((rng.Uniform() - 0.5) / d);
    if (o.item_bias) state.item_bias.assign(data.num_items(), 0.0f);
  }
  std::vector<int32_t> order(m.rows);
  EpochInput in{&m,
                o.factors,
                o.learning_rate,
                o.regularization,
                o.negative_sampling == BprOptions::Negatives::kPopularity,
                o.item_bias,
                o.compute_loss};
  std::vector<float> dummy_bias(1, 0.0f);
  float* bias = o.item_bias ? state.item_bias.data() : dummy_bias.data();
  const int64_t nnz = m.nnz();
  while (state.iterations_done < o.epochs) {
    const auto start = std::chrono::steady_clock::now();
    const uint64_t epoch_seed = Mix64(o.seed ^ Mix64(0xb9e0ULL + state.iterations_done));
    // A fresh seeded user order per epoch (Fisher-Yates).
    Rng shuffle(epoch_seed);
    for (int32_t u = 0; u < m.rows; ++u) order[u] = u;
    for (int32_t u = m.rows - 1; u > 0; --u) {
      std::swap(order[u], order[shuffle.UniformInt(static_cast<uint64_t>(u) + 1)]);
    }
    double loss = 0;
#pragma omp parallel num_threads(o.threads) reduction(+ : loss)
    {
#ifdef _OPENMP
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();
#else
      const int t = 0;
      const int nt = 1;
#endif
      const int64_t begin = static_cast<int64_t>(m.rows) * t / nt;
      const int64_t end = static_cast<int64_t>(m.rows) * (t + 1) / nt;
      loss += EpochChunk(in, order.data(), begin, end, Mix64(epoch_seed + t),
                         state.user_factors.data(), state.item_factors.data(), bias);
    }
    ++state.iterations_done;
    const double epoch_loss = o.compute_loss ? loss / static_cast<double>(nnz)
                                             : std::numeric_limits<double>::quiet_NaN();
    RETURN_IF_ERROR(FinishIteration(start, o.epochs, epoch_loss, state, callback));
  }
  return state;
}

}  // namespace recbandit::ranking
