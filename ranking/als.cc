// Implicit ALS: Gram matrix, per-row CG and Cholesky solves, sweeps, loss.
#include "ranking/als.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "Eigen/Cholesky"
#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "ranking/simd.h"

namespace recbandit::ranking {
namespace {

constexpr int64_t kGramChunk = 4096;
// Rows whose gathered item factors fit in this many floats (256 KiB, about
// L2) are copied once per solve; longer rows are read in place each CG step.
constexpr int64_t kMaxGatherFloats = 64 * 1024;

// Adds rows [begin, end) of y into the d x d outer-product sum `g`.
RECBANDIT_MULTIVERSION
void GramChunk(const float* y, int32_t d, int64_t begin, int64_t end, float* g) {
  for (int64_t r = begin; r < end; ++r) {
    const float* row = y + r * d;
    for (int32_t a = 0; a < d; ++a) simd::Axpy(row[a], row, g + int64_t{a} * d, d);
  }
}

// The CG row solve; `scratch` holds 3 * d floats.
RECBANDIT_MULTIVERSION
void CgRow(const float* y, int32_t d, const float* gram, const int32_t* items,
           const float* weights, int32_t n, float alpha, float lambda, int32_t steps,
           float* x, float* scratch, float* buf) {
  float* r = scratch;
  float* p = scratch + d;
  float* ap = scratch + 2 * d;
  // r = b - A x, with b = sum c_i y_i and A x = G x + sum (c_i - 1)(y_i.x) y_i + lambda x.
  simd::SymMatVec(gram, x, r, d);
#pragma omp simd
  for (int32_t f = 0; f < d; ++f) r[f] = -r[f] - lambda * x[f];
  // One pass over the gathered rows; when `buf` is given they are copied
  // there so the CG steps below read them from cache, not from the factor
  // matrix (which, at scale, means DRAM).
  for (int32_t k = 0; k < n; ++k) {
    if (k + 4 < n) {
      const float* next = y + int64_t{items[k + 4]} * d;
      for (int32_t f = 0; f < d; f += 16) __builtin_prefetch(next + f);
    }
    const float* yi = y + int64_t{items[k]} * d;
    const float c1 = alpha * weights[k];
    const float s = simd::Dot(yi, x, d);
    simd::Axpy((1.0f + c1) - c1 * s, yi, r, d);
    if (buf != nullptr) {
      float* dst = buf + int64_t{k} * d;
#pragma omp simd
      for (int32_t f = 0; f < d; ++f) dst[f] = yi[f];
    }
  }
  float rs_old = simd::Dot(r, r, d);
  if (rs_old < 1e-20f) return;
  for (int32_t f = 0; f < d; ++f) p[f] = r[f];
  for (int32_t step = 0; step < steps; ++step) {
    simd::SymMatVec(gram, p, ap, d);
    simd::Axpy(lambda, p, ap, d);
    for (int32_t k = 0; k < n; ++k) {
      const float* yi = buf != nullptr ? buf + int64_t{k} * d : y + int64_t{items[k]} * d;
      const float c1 = alpha * weights[k];
      simd::Axpy(c1 * simd::Dot(yi, p, d), yi, ap, d);
    }
    const float pap = simd::Dot(p, ap, d);
    if (!(pap > 0)) return;
    const float a = rs_old / pap;
    simd::Axpy(a, p, x, d);
    simd::Axpy(-a, ap, r, d);
    const float rs_new = simd::Dot(r, r, d);
    if (rs_new < 1e-20f) return;
    const float beta = rs_new / rs_old;
#pragma omp simd
    for (int32_t f = 0; f < d; ++f) p[f] = r[f] + beta * p[f];
    rs_old = rs_new;
  }
}

// Per-row objective terms: x^T G x + sum_i ((1 + c1)(1 - s)^2 - s^2) + lambda |x|^2.
RECBANDIT_MULTIVERSION
double RowLoss(const float* y, int32_t d, const float* gram, const int32_t* items,
               const float* weights, int32_t n, float alpha, float lambda, const float* x,
               float* scratch) {
  simd::SymMatVec(gram, x, scratch, d);
  double loss = simd::Dot(scratch, x, d);
  for (int32_t k = 0; k < n; ++k) {
    const double s = simd::Dot(y + int64_t{items[k]} * d, x, d);
    const double c = 1.0 + double{alpha} * weights[k];
    loss += c * (1 - s) * (1 - s) - s * s;
  }
  return loss + double{lambda} * simd::Dot(x, x, d);
}

float RowLambda(const AlsOptions& o, int32_t count) {
  return o.scale_regularization ? o.regularization * std::max(1, count) : o.regularization;
}

// Solves every row of `x` (rows of `m`) against the fixed factors `y`.
void Sweep(const CsrMatrix& m, const std::vector<float>& y, std::vector<float>* x,
           const AlsOptions& o) {
  const int32_t d = o.factors;
  std::vector<float> gram;
  ComputeGram(y, d, o.threads, &gram);
  const int32_t rows = m.rows;
#pragma omp parallel num_threads(o.threads)
  {
    std::vector<float> scratch(3 * d);
    std::vector<float> buf;  // gathered rows of one row's items
#pragma omp for schedule(dynamic, 128)
    for (int32_t r = 0; r < rows; ++r) {
      const float lambda = RowLambda(o, m.RowSize(r));
      float* xr = x->data() + int64_t{r} * d;
      if (o.solver == AlsOptions::Solver::kCholesky) {
        SolveRowCholesky(y, d, gram, m.RowIndices(r), m.RowValues(r), o.alpha, lambda, xr);
      } else {
        const int64_t need = int64_t{m.RowSize(r)} * d;
        float* gathered = nullptr;
        if (need <= kMaxGatherFloats) {
          if (static_cast<int64_t>(buf.size()) < need) buf.resize(need);
          gathered = buf.data();
        }
        CgRow(y.data(), d, gram.data(), m.RowIndices(r).data(), m.RowValues(r).data(),
              m.RowSize(r), o.alpha, lambda, o.cg_steps, xr, scratch.data(), gathered);
      }
    }
  }
}

double SideLoss(const CsrMatrix& m, const std::vector<float>& y, const std::vector<float>& x,
                const std::vector<float>& gram, const AlsOptions& o, bool with_data) {
  const int32_t d = o.factors;
  double total = 0;
#pragma omp parallel num_threads(o.threads) reduction(+ : total)
  {
    std::vector<float> scratch(d);
#pragma omp for schedule(static)
    for (int32_t r = 0; r < m.rows; ++r) {
      const float* xr = x.data() + int64_t{r} * d;
      const float lambda = RowLambda(o, m.RowSize(r));
      if (with_data) {
        total += RowLoss(y.data(), d, gram.data(), m.RowIndices(r).data(),
                         m.RowValues(r).data(), m.RowSize(r), o.alpha, lambda, xr,
                         scratch.data());
      } else {
        total += double{lambda} * simd::Dot(xr, xr, d);
      }
    }
  }
  return total;
}

}  // namespace

absl::Status ValidateAlsOptions(const AlsOptions& o) {
  RETURN_IF_ERROR(ValidateSharedOptions("ALS", o.factors, o.regularization, o.threads));
  if (o.iterations < 1 || o.iterations > 1000) {
    return OptionOutOfRange("ALS", "iterations", o.iterations, "1..1000");
  }
  if (!(o.alpha > 0) || !std::isfinite(o.alpha)) {
    return OptionOutOfRange("ALS", "alpha", o.alpha, "> 0");
  }
  if (o.cg_steps < 1 || o.cg_steps > 64) {
    return OptionOutOfRange("ALS", "cg_steps", o.cg_steps, "1..64");
  }
  return absl::OkStatus();
}

void ComputeGram(absl::Span<const float> y, int32_t d, int32_t threads,
                 std::vector<float>* gram) {
  const int64_t n = static_cast<int64_t>(y.size()) / d;
  const int64_t chunks = (n + kGramChunk - 1) / kGramChunk;
  std::vector<float> partial(static_cast<size_t>(std::max<int64_t>(chunks, 1)) * d * d, 0.0f);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    GramChunk(y.data(), d, c * kGramChunk, std::min(n, (c + 1) * kGramChunk),
              partial.data() + c * d * d);
  }
  gram->assign(static_cast<size_t>(d) * d, 0.0f);
  for (int64_t c = 0; c < chunks; ++c) {  // fixed order: deterministic
    const float* p = partial.data() + c * d * d;
    for (int64_t k = 0; k < int64_t{d} * d; ++k) (*gram)[k] += p[k];
  }
}

void SolveRowCholesky(absl::Span<const float> y, int32_t d, absl::Span<const float> gram,
                      absl::Span<const int32_t> items, absl::Span<const float> weights,
                      float alpha, float lambda, float* x) {
  Eigen::MatrixXd a(d, d);
  Eigen::VectorXd b = Eigen::VectorXd::Zero(d);
  for (int32_t r = 0; r < d; ++r) {
    for (int32_t c = 0; c < d; ++c) a(r, c) = gram[int64_t{r} * d + c];
    a(r, r) += lambda;
  }
  for (size_t k = 0; k < items.size(); ++k) {
    const float* yi = y.data() + int64_t{items[k]} * d;
    Eigen::Map<const Eigen::VectorXf> v(yi, d);
    const Eigen::VectorXd vd = v.cast<double>();
    const double c1 = double{alpha} * weights[k];
    a.selfadjointView<Eigen::Lower>().rankUpdate(vd, c1);
    b += (1.0 + c1) * vd;
  }
  Eigen::LLT<Eigen::MatrixXd> llt(a.selfadjointView<Eigen::Lower>());
  Eigen::VectorXd sol = llt.solve(b);
  if (llt.info() != Eigen::Success || !sol.allFinite()) {
    // Singular (lambda 0 and too few items): least-squares via LDLT.
    sol = Eigen::MatrixXd(a.selfadjointView<Eigen::Lower>()).ldlt().solve(b);
  }
  for (int32_t f = 0; f < d; ++f) x[f] = static_cast<float>(sol(f));
}

void SolveRowCg(absl::Span<const float> y, int32_t d, absl::Span<const float> gram,
                absl::Span<const int32_t> items, absl::Span<const float> weights,
                float alpha, float lambda, int32_t steps, float* x) {
  std::vector<float> scratch(3 * d);
  CgRow(y.data(), d, gram.data(), items.data(), weights.data(),
        static_cast<int32_t>(items.size()), alpha, lambda, steps, x, scratch.data(), nullptr);
}

double AlsLoss(const Interactions& data, const FactorState& s, const AlsOptions& o) {
  std::vector<float> gram;
  ComputeGram(s.item_factors, o.factors, o.threads, &gram);
  return SideLoss(data.user_items(), s.item_factors, s.user_factors, gram, o, true) +
         SideLoss(data.item_users(), s.user_factors, s.item_factors, gram, o, false);
}

absl::StatusOr<FactorState> AlsTrainer::Fit(const Interactions& data,
                                           const FactorState* resume,
                                           const IterationCallback& callback) const {
  RETURN_IF_ERROR(ValidateAlsOptions(options_));
  const AlsOptions& o = options_;
  const int64_t d = o.factors;
  if (data.nnz() == 0) return absl::InvalidArgumentError("no interactions to train on");
  FactorState state;
  if (resume != nullptr) {
    RETURN_IF_ERROR(CheckResume(*resume, data, o.factors, /*item_bias=*/false, o.iterations,
                                "iterations"));
    state = *resume;
  } else {
    state.factors = o.factors;
    Rng rng(o.seed);
    state.user_factors.resize(data.num_users() * d);
    state.item_factors.resize(data.num_items() * d);
    for (float& v : state.user_factors) v = static_cast<float>(rng.Normal() * 0.01);
    for (float& v : state.item_factors) v = static_cast<float>(rng.Normal() * 0.01);
  }
  while (state.iterations_done < o.iterations) {
    const auto start = std::chrono::steady_clock::now();
    Sweep(data.user_items(), state.item_factors, &state.user_factors, o);
    Sweep(data.item_users(), state.user_factors, &state.item_factors, o);
    ++state.iterations_done;
    const double loss = o.compute_loss ? AlsLoss(data, state, o)
                                       : std::numeric_limits<double>::quiet_NaN();
    RETURN_IF_ERROR(FinishIteration(start, o.iterations, loss, state, callback));
  }
  return state;
}

}  // namespace recbandit::ranking
