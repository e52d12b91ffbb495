// Implicit ALS: Gram matrix, per-row CG and Cholesky solves (float32, two
// rows at a time), sweeps, loss.
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

float RowLambda(const AlsOptions& o, int32_t count) {
  return o.scale_regularization ? o.regularization * std::max(1, count) : o.regularization;
}

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

// Columns of the float32 Cholesky kernels start at a multiple of this (one
// AVX-512 vector of floats), so the vector loops run on whole chunks; the
// entries left of the diagonal inside the chunk are updated too, harmlessly.
constexpr int32_t kChunk = 16;
// Panel height of the blocked factorization: each trailing row is read and
// written once per kPanel pivots, not once per pivot.
constexpr int32_t kPanel = 4;

inline int32_t ChunkStart(int32_t col) { return col & ~(kChunk - 1); }

// Row stride of the float32 systems: d rounded up to whole chunks, the
// padding columns zero, so every vector loop below runs on whole chunks.
inline int32_t PaddedStride(int32_t d) { return (d + kChunk - 1) & ~(kChunk - 1); }

// A float32 row system in scratch: the upper triangle of A (d x d,
// row-major, stride PaddedStride(d)), L = U^T once A = U^T U is factored
// (same layout), b, then 1 / diag(U).
struct RowSystem {
  float* a;
  float* lt;
  float* b;
  float* inv_diag;
};

// Floats of scratch one RowSystem takes.
int64_t RowSystemFloats(int32_t d) {
  const int64_t ld = PaddedStride(d);
  return 2 * int64_t{d} * ld + 2 * ld;
}

RowSystem RowSystemAt(float* work, int32_t d) {
  const int64_t ld = PaddedStride(d);
  const int64_t dd = int64_t{d} * ld;
  return {work, work + dd, work + 2 * dd, work + 2 * dd + ld};
}

// Forms the upper triangle of A = G + lambda I + sum_k c1_k y_k y_k^T and
// b = sum_k (1 + c1_k) y_k, c1_k = alpha * weights[k], in float32.
RECBANDIT_MULTIVERSION_AVX512
void FormSystemF32(const float* y, int32_t d, const float* gram, const int32_t* items,
                   const float* weights, int32_t n, float alpha, float lambda,
                   const RowSystem& sys) {
  const int32_t ld = PaddedStride(d);
  float* a = sys.a;
  float* b = sys.b;
  // Only the upper triangle, in whole chunks, is ever read below; copying all
  // of G keeps the entries left of the diagonal finite.
  for (int32_t r = 0; r < d; ++r) {
    float* ar = a + int64_t{r} * ld;
    std::copy(gram + int64_t{r} * d, gram + int64_t{r + 1} * d, ar);
    std::fill(ar + d, ar + ld, 0.0f);
    ar[r] += lambda;
  }
  std::fill(b, b + ld, 0.0f);
  // Rank-4 updates: each chunk of A is loaded and stored once per 4 items.
  int32_t k = 0;
  for (; k + 4 <= n; k += 4) {
    if (k + 8 <= n) {
      for (int32_t q = 4; q < 8; ++q) {
        const float* next = y + int64_t{items[k + q]} * d;
        for (int32_t f = 0; f < d; f += 16) __builtin_prefetch(next + f);
      }
    }
    const float* y0 = y + int64_t{items[k]} * d;
    const float* y1 = y + int64_t{items[k + 1]} * d;
    const float* y2 = y + int64_t{items[k + 2]} * d;
    const float* y3 = y + int64_t{items[k + 3]} * d;
    const float c0 = alpha * weights[k], c1 = alpha * weights[k + 1];
    const float c2 = alpha * weights[k + 2], c3 = alpha * weights[k + 3];
#pragma omp simd
    for (int32_t f = 0; f < d; ++f) {
      b[f] += (1.0f + c0) * y0[f] + (1.0f + c1) * y1[f] + (1.0f + c2) * y2[f] +
              (1.0f + c3) * y3[f];
    }
    for (int32_t r = 0; r < d; ++r) {
      const float s0 = c0 * y0[r], s1 = c1 * y1[r], s2 = c2 * y2[r], s3 = c3 * y3[r];
      float* ar = a + int64_t{r} * ld;
#pragma omp simd
      for (int32_t j = ChunkStart(r); j < d; ++j) {
        ar[j] += s0 * y0[j] + s1 * y1[j] + s2 * y2[j] + s3 * y3[j];
      }
    }
  }
  for (; k < n; ++k) {
    const float* y0 = y + int64_t{items[k]} * d;
    const float c0 = alpha * weights[k];
    simd::Axpy(1.0f + c0, y0, b, d);
    for (int32_t r = 0; r < d; ++r) {
      const float s0 = c0 * y0[r];
      float* ar = a + int64_t{r} * ld;
#pragma omp simd
      for (int32_t j = ChunkStart(r); j < d; ++j) ar[j] += s0 * y0[j];
    }
  }
}

// Factors A = U^T U in place for TWO systems formed by FormSystemF32 and
// solves A x = b for each: U^T z = b by rows of U, U x = z by rows of
// L = U^T (stored as each row of U is final), so both solves are vector
// axpys with no horizontal sums. Every step is done for both systems in
// turn: the factorization of one 64 x 64 matrix is a chain of dependent
// pivots (square root, division, store, reload), and two independent chains
// keep the core busy while each waits. The two results are exactly those of
// two separate factorizations. Right-looking, blocked by kPanel rows: each
// trailing row is read and written once per panel. Returns bit m set when
// system m's answer in x[m] is valid; clear when a pivot is not positive
// (A singular or indefinite in float32) or the solution is not finite.
RECBANDIT_MULTIVERSION_AVX512
int FactorSolvePairF32(int32_t d, const RowSystem* sys, float* const* x) {
  constexpr int kPair = 2;
  const int32_t ld = PaddedStride(d);
  int ok = (1 << kPair) - 1;
  for (int32_t p0 = 0; p0 < d; p0 += kPanel) {
    const int32_t p1 = std::min(d, p0 + kPanel);
    // The panel rows: each pivot row is scaled, then updates the panel rows
    // below it (full width, so they are final for the trailing update).
    for (int32_t p = p0; p < p1; ++p) {
      for (int m = 0; m < kPair; ++m) {
        float* up = sys[m].a + int64_t{p} * ld;
        float pivot = up[p];
        if (!(pivot > 0.0f) || !std::isfinite(pivot)) {
          ok &= ~(1 << m);
          pivot = 1.0f;  // keeps the failed system finite; its answer is dropped
        }
        const float upp = std::sqrt(pivot);
        const float inv = 1.0f / upp;
        sys[m].inv_diag[p] = inv;
        for (int32_t c = ChunkStart(p); c < ld; c += kChunk) {
#pragma omp simd
          for (int32_t t = 0; t < kChunk; ++t) up[c + t] *= inv;
        }
        up[p] = upp;
      }
      for (int m = 0; m < kPair; ++m) {
        // Row p of U is final: store it as column p of L.
        const float* up = sys[m].a + int64_t{p} * ld;
        float* lt = sys[m].lt;
        for (int32_t j = p; j < d; ++j) lt[int64_t{j} * ld + p] = up[j];
      }
      for (int32_t i = p + 1; i < p1; ++i) {
        for (int m = 0; m < kPair; ++m) {
          const float* up = sys[m].a + int64_t{p} * ld;
          const float s = up[i];
          float* ui = sys[m].a + int64_t{i} * ld;
          for (int32_t c = ChunkStart(i); c < ld; c += kChunk) {
#pragma omp simd
            for (int32_t t = 0; t < kChunk; ++t) ui[c + t] -= s * up[c + t];
          }
        }
      }
    }
    // The trailing rows, updated by all the panel's rows at once.
    for (int m = 0; m < kPair; ++m) {
      float* a = sys[m].a;
      if (p1 - p0 == 4) {
        const float* u0 = a + int64_t{p0} * ld;
        const float* u1 = u0 + ld;
        const float* u2 = u1 + ld;
        const float* u3 = u2 + ld;
        for (int32_t i = p1; i < d; ++i) {
          const float s0 = u0[i], s1 = u1[i], s2 = u2[i], s3 = u3[i];
          float* ui = a + int64_t{i} * ld;
          for (int32_t c = ChunkStart(i); c < ld; c += kChunk) {
#pragma omp simd
            for (int32_t t = 0; t < kChunk; ++t) {
              const int32_t j = c + t;
              ui[j] -= s0 * u0[j] + s1 * u1[j] + s2 * u2[j] + s3 * u3[j];
            }
          }
        }
      } else {
        for (int32_t p = p0; p < p1; ++p) {
          const float* up = a + int64_t{p} * ld;
          for (int32_t i = p1; i < d; ++i) {
            const float s = up[i];
            float* ui = a + int64_t{i} * ld;
            for (int32_t c = ChunkStart(i); c < ld; c += kChunk) {
#pragma omp simd
              for (int32_t t = 0; t < kChunk; ++t) ui[c + t] -= s * up[c + t];
            }
          }
        }
      }
    }
  }
  // U^T z = b (z overwrites b), by columns of U^T = rows of U.
  for (int32_t r = 0; r < d; ++r) {
    for (int m = 0; m < kPair; ++m) {
      const float* ur = sys[m].a + int64_t{r} * ld;
      float* b = sys[m].b;
      const float z = b[r] * sys[m].inv_diag[r];
      b[r] = z;
#pragma omp simd
      for (int32_t j = r + 1; j < d; ++j) b[j] -= z * ur[j];
    }
  }
  // U x = z, from the last row up, by columns of U = rows of L.
  for (int32_t r = d - 1; r >= 0; --r) {
    for (int m = 0; m < kPair; ++m) {
      const float* lr = sys[m].lt + int64_t{r} * ld;
      float* b = sys[m].b;
      const float xr = b[r] * sys[m].inv_diag[r];
      x[m][r] = xr;
#pragma omp simd
      for (int32_t j = 0; j < r; ++j) b[j] -= xr * lr[j];
    }
  }
  for (int m = 0; m < kPair; ++m) {
    for (int32_t f = 0; f < d; ++f) {
      if (!std::isfinite(x[m][f])) ok &= ~(1 << m);
    }
  }
  return ok;
}

// The same system in double precision through Eigen (LLT, LDLT when A is
// singular): the fallback when the float32 factorization fails.
void CholeskyRowF64(const float* y, int32_t d, const float* gram, const int32_t* items,
                    const float* weights, int32_t n, float alpha, float lambda, float* x) {
  Eigen::MatrixXd a(d, d);
  Eigen::VectorXd b = Eigen::VectorXd::Zero(d);
  for (int32_t r = 0; r < d; ++r) {
    for (int32_t c = 0; c < d; ++c) a(r, c) = gram[int64_t{r} * d + c];
    a(r, r) += lambda;
  }
  for (int32_t k = 0; k < n; ++k) {
    Eigen::Map<const Eigen::VectorXf> v(y + int64_t{items[k]} * d, d);
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

// One row to solve exactly: its items, their weights, lambda, and where the
// d floats of the answer go.
struct RowProblem {
  const int32_t* items;
  const float* weights;
  int32_t n;
  float lambda;
  float* x;
};

// Scratch floats CholeskySolve needs: two row systems.
int64_t CholeskyScratch(int32_t d) { return 2 * RowSystemFloats(d); }

// Solves `count` (1 or 2) rows exactly: in float32, or in double for a row
// whose float32 factorization fails. `work` holds CholeskyScratch(d) floats.
void CholeskySolve(const float* y, int32_t d, const float* gram, float alpha,
                   const RowProblem* rows, int count, float* work) {
  const RowSystem sys[2] = {RowSystemAt(work, d), RowSystemAt(work + RowSystemFloats(d), d)};
  for (int k = 0; k < count; ++k) {
    FormSystemF32(y, d, gram, rows[k].items, rows[k].weights, rows[k].n, alpha,
                  rows[k].lambda, sys[k]);
  }
  float* out[2] = {rows[0].x, count == 2 ? rows[1].x : nullptr};
  std::vector<float> dropped;
  if (count == 1) {
    // A lone row: the second slot factors a copy, whose answer is dropped.
    std::copy(sys[0].a, sys[0].a + RowSystemFloats(d), sys[1].a);
    dropped.resize(d);
    out[1] = dropped.data();
  }
  const int ok = FactorSolvePairF32(d, sys, out);
  for (int k = 0; k < count; ++k) {
    if ((ok >> k) & 1) continue;
    CholeskyRowF64(y, d, gram, rows[k].items, rows[k].weights, rows[k].n, alpha,
                   rows[k].lambda, rows[k].x);
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

RowProblem ProblemOf(const CsrMatrix& m, int32_t r, const AlsOptions& o, float* x) {
  return {m.RowIndices(r).data(), m.RowValues(r).data(), m.RowSize(r),
          RowLambda(o, m.RowSize(r)), x + int64_t{r} * o.factors};
}

// Solves every row of `x` (rows of `m`) against the fixed factors `y`.
void Sweep(const CsrMatrix& m, const std::vector<float>& y, std::vector<float>* x,
           const AlsOptions& o) {
  const int32_t d = o.factors;
  std::vector<float> gram;
  ComputeGram(y, d, o.threads, &gram);
  const int32_t rows = m.rows;
  if (o.solver == AlsOptions::Solver::kCholesky) {
    // Rows two at a time (FactorSolvePairF32); the pairing does not change
    // any row's answer.
    const int32_t pairs = (rows + 1) / 2;
#pragma omp parallel num_threads(o.threads)
    {
      std::vector<float> work(CholeskyScratch(d));
#pragma omp for schedule(dynamic, 64)
      for (int32_t p = 0; p < pairs; ++p) {
        const int32_t r = 2 * p;
        const RowProblem problems[2] = {
            ProblemOf(m, r, o, x->data()),
            r + 1 < rows ? ProblemOf(m, r + 1, o, x->data()) : RowProblem{}};
        CholeskySolve(y.data(), d, gram.data(), o.alpha, problems, r + 1 < rows ? 2 : 1,
                      work.data());
      }
    }
    return;
  }
#pragma omp parallel num_threads(o.threads)
  {
    std::vector<float> scratch(3 * d);
    std::vector<float> buf;  // gathered rows of one row's items
#pragma omp for schedule(dynamic, 128)
    for (int32_t r = 0; r < rows; ++r) {
      const float lambda = RowLambda(o, m.RowSize(r));
      float* xr = x->data() + int64_t{r} * d;
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
  std::vector<float> work(CholeskyScratch(d));
  const RowProblem row = {items.data(), weights.data(), static_cast<int32_t>(items.size()),
                          lambda, x};
  CholeskySolve(y.data(), d, gram.data(), alpha, &row, 1, work.data());
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
