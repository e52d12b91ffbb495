// Implicit-feedback ALS (Hu, Koren, Volinsky 2008): confidence 1 + alpha * w
// on observed pairs, the Gram-matrix trick for the unobserved ones, and a
// per-row conjugate-gradient (Takacs et al. 2011) or exact Cholesky solver.
#ifndef RECBANDIT_RANKING_ALS_H_
#define RECBANDIT_RANKING_ALS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/model.pb.h"
#include "ranking/interactions.h"
#include "ranking/training.h"

namespace recbandit::ranking {

struct AlsOptions {
  int32_t factors = 64;          // latent dimension d, 1..1024
  int32_t iterations = 15;       // sweeps (users then items), 1..1000
  float regularization = 0.01f;  // lambda, >= 0
  float alpha = 1.0f;            // confidence = 1 + alpha * weight, > 0
  enum class Solver { kConjugateGradient, kCholesky };
  Solver solver = Solver::kConjugateGradient;
  int32_t cg_steps = 3;          // CG steps per row per sweep, 1..64
  bool scale_regularization = false;  // ALS-WR: lambda * (row count)
  bool compute_loss = false;     // loss after each iteration (extra pass)
  int32_t threads = 1;           // 1..256; results do not depend on it
  uint64_t seed = 1;             // factor initialization
};

// Returns INVALID_ARGUMENT naming the first field out of its range.
absl::Status ValidateAlsOptions(const AlsOptions& options);
// TrainParams conversions: ranking/train_params.h.

// Implicit ALS trainer. Deterministic for a seed (rows are solved
// independently, so even the thread count does not change the result).
// Thread-compatible.
class AlsTrainer {
 public:
  explicit AlsTrainer(AlsOptions options) : options_(options) {}
  // Returns the trained factors. `resume`, when given, is a state from an
  // earlier run with the same data and options: training continues after its
  // iterations_done and ends bitwise where an uninterrupted run ends.
  absl::StatusOr<FactorState> Fit(const Interactions& data,
                                  const FactorState* resume = nullptr,
                                  const IterationCallback& callback = nullptr) const;

 private:
  AlsOptions options_;
};

// Building blocks, shared with fold-in and tests. Y is n x d row-major.
// Writes Y^T Y (d x d, row-major) into `gram`.
void ComputeGram(absl::Span<const float> y, int32_t d, int32_t threads,
                 std::vector<float>* gram);
// Returns into `x` (size d) the exact minimizer of
//   sum_i c_i (1 - x.y_i)^2 + sum_{j not in items} (x.y_j)^2 + lambda |x|^2
// with c_i = 1 + alpha * weights[i]: the normal equations formed and
// Cholesky-factored in float32 (solved in double precision instead when a
// float32 pivot is not positive). Differs from the double-precision solve by rounding:
// about cond(A) * 6e-8 relative (tests/ranking/als_test.cc bounds it).
void SolveRowCholesky(absl::Span<const float> y, int32_t d, absl::Span<const float> gram,
                      absl::Span<const int32_t> items, absl::Span<const float> weights,
                      float alpha, float lambda, float* x);
// Same system, `steps` conjugate-gradient steps warm-started from `x`.
void SolveRowCg(absl::Span<const float> y, int32_t d, absl::Span<const float> gram,
                absl::Span<const int32_t> items, absl::Span<const float> weights,
                float alpha, float lambda, int32_t steps, float* x);
// Returns the ALS objective of `state` on `data` (regularization as in options).
double AlsLoss(const Interactions& data, const FactorState& state, const AlsOptions& options);

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_ALS_H_
