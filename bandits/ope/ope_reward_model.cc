// The cross-fitted reward model of the model-based OPE estimators (see
// FitRewardModel in bandits/ope/ope.h): per-action ridge or L2-logistic regression
// over [1, context features] (the logged contexts as the policies saw them:
// bandits/ope/reward_features.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "Eigen/Dense"
#include "absl/strings/str_cat.h"
#include "bandits/ope/ope.h"
#include "proto/core/names.h"
#include "proto/core/random.h"

namespace recbandit::bandits {
namespace {

using Matrix = Eigen::MatrixXd;
using Vector = Eigen::VectorXd;

// Returns the cross-fitting fold of round i.
inline int32_t FoldOf(uint64_t seed, int64_t i, int32_t folds) {
  return static_cast<int32_t>(Mix64(seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(i)) %
                              static_cast<uint64_t>(folds));
}

// Writes [1, x_i] into `x` (size d + 1).
inline void LoadRow(const LoggedRounds& rounds, int64_t i, double* x) {
  const int32_t d = rounds.feature_dim;
  x[0] = 1.0;
  const float* f = rounds.features.data() + i * d;
  for (int32_t j = 0; j < d; ++j) x[j + 1] = f[j];
}

// Ridge: per (action, fold) sufficient statistics in one pass; the model of
// fold f is fit on the totals minus fold f.
std::vector<Vector> FitRidge(const LoggedRounds& rounds, const std::vector<int32_t>& fold,
                             const RewardModelOptions& options, double base) {
  const int32_t p = rounds.feature_dim + 1;
  const int32_t k = options.folds;
  const int32_t num_actions = rounds.num_actions;
  // Packed upper triangle per (action, fold) keeps the pass cache-friendly.
  const int32_t tri = p * (p + 1) / 2;
  std::vector<double> xtx(static_cast<size_t>(num_actions) * k * tri, 0.0);
  std::vector<double> xty(static_cast<size_t>(num_actions) * k * p, 0.0);
  std::vector<double> x(p);
  const int64_t n = rounds.size();
  for (int64_t i = 0; i < n; ++i) {
    LoadRow(rounds, i, x.data());
    const size_t cell = static_cast<size_t>(rounds.action[i]) * k + fold[i];
    double* a = xtx.data() + cell * tri;
    double* b = xty.data() + cell * p;
    const double y = rounds.reward[i] - base;
    int32_t t = 0;
    for (int32_t r = 0; r < p; ++r) {
      const double xr = x[r];
      b[r] += xr * y;
      for (int32_t c = r; c < p; ++c) a[t++] += xr * x[c];
    }
  }
  std::vector<Vector> theta(static_cast<size_t>(num_actions) * k);
  Matrix total(p, p), mat(p, p);
  Vector total_b(p), vec(p);
  for (int32_t action = 0; action < num_actions; ++action) {
    total.setZero();
    total_b.setZero();
    std::vector<Matrix> fold_a(k, Matrix::Zero(p, p));
    std::vector<Vector> fold_b(k, Vector::Zero(p));
    for (int32_t f = 0; f < k; ++f) {
      const size_t cell = static_cast<size_t>(action) * k + f;
      int32_t t = 0;
      for (int32_t r = 0; r < p; ++r) {
        fold_b[f](r) = xty[cell * p + r];
        for (int32_t c = r; c < p; ++c) {
          fold_a[f](r, c) = fold_a[f](c, r) = xtx[cell * tri + t++];
        }
      }
      total += fold_a[f];
      total_b += fold_b[f];
    }
    for (int32_t f = 0; f < k; ++f) {
      mat = total - fold_a[f];
      mat.diagonal().array() += options.l2;
      vec = total_b - fold_b[f];
      theta[static_cast<size_t>(action) * k + f] = mat.ldlt().solve(vec);
    }
  }
  return theta;
}

// Logistic: per (action, fold) Newton's method with an L2 penalty on the rows
// of that action outside the fold.
std::vector<Vector> FitLogistic(const LoggedRounds& rounds, const std::vector<int32_t>& fold,
                                const RewardModelOptions& options, double base) {
  const int32_t p = rounds.feature_dim + 1;
  const int32_t k = options.folds;
  const int64_t n = rounds.size();
  std::vector<std::vector<int64_t>> by_action(rounds.num_actions);
  for (int64_t i = 0; i < n; ++i) by_action[rounds.action[i]].push_back(i);
  std::vector<Vector> theta(static_cast<size_t>(rounds.num_actions) * k,
                            Vector::Zero(p));
  std::vector<double> x(p);
  Matrix hessian(p, p);
  Vector grad(p);
  for (int32_t action = 0; action < rounds.num_actions; ++action) {
    for (int32_t f = 0; f < k; ++f) {
      Vector w = Vector::Zero(p);
      for (int32_t it = 0; it < options.iterations; ++it) {
        hessian.setZero();
        grad = options.l2 * w;
        hessian.diagonal().array() += options.l2;
        for (int64_t i : by_action[action]) {
          if (fold[i] == f) continue;
          LoadRow(rounds, i, x.data());
          Eigen::Map<const Vector> xv(x.data(), p);
          const double z = base + xv.dot(w);
          const double mu = 1.0 / (1.0 + std::exp(-z));
          grad += (mu - rounds.reward[i]) * xv;
          hessian.selfadjointView<Eigen::Lower>().rankUpdate(xv, std::max(mu * (1 - mu), 1e-9));
        }
        hessian.triangularView<Eigen::StrictlyUpper>() = hessian.transpose();
        const Vector step = hessian.ldlt().solve(grad);
        w -= step;
        if (step.norm() < 1e-10 * (1.0 + w.norm())) break;
      }
      theta[static_cast<size_t>(action) * k + f] = w;
    }
  }
  return theta;
}

}  // namespace

absl::StatusOr<RewardPredictions> FitRewardModel(const LoggedRounds& rounds,
                                                 const RewardModelOptions& options) {
  const int64_t n = rounds.size();
  if (options.folds < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward model folds must be >= 2, got ", options.folds));
  }
  if (!(options.l2 > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward model l2 must be > 0, got ", options.l2));
  }
  const bool logistic = options.kind == "logistic";
  if (!logistic && options.kind != "ridge") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown reward model ", Quote(options.kind), " (expected ridge or logistic)"));
  }
  if (static_cast<int64_t>(rounds.target_row.size()) != n) {
    return absl::InvalidArgumentError(
        "the model-based estimators need the target pmf of every round");
  }
  if (rounds.features.size() != static_cast<size_t>(n) * rounds.feature_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "features: expected ", n, " x ", rounds.feature_dim, " values, got ",
        rounds.features.size()));
  }
  if (logistic) {
    for (int64_t i = 0; i < n; ++i) {
      if (rounds.reward[i] < 0 || rounds.reward[i] > 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "logistic reward model needs rewards in [0, 1]; round ", i, " has ",
            rounds.reward[i], " (use --reward_model=ridge)"));
      }
    }
  }
  const int32_t k = options.folds;
  {
    // Ridge keeps (d + 1)^2 / 2 sums per (action, fold); refuse what would
    // not fit in memory instead of failing to allocate.
    const double p1 = rounds.feature_dim + 1.0;
    const double cells = static_cast<double>(rounds.num_actions) * k * p1 * (p1 + 1) / 2;
    if (cells > 2.5e8) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "reward model too large: ", rounds.num_actions, " actions x ", rounds.feature_dim,
          " features x ", k, " folds needs ", static_cast<int64_t>(cells * 8 / 1e6),
          " MB of statistics (limit 2000 MB); use fewer context features or folds"));
    }
  }
  std::vector<int32_t> fold(n);
  for (int64_t i = 0; i < n; ++i) fold[i] = FoldOf(options.seed, i, k);
  // The models fit deviations from the overall mean reward (an offset), so the
  // L2 penalty shrinks toward that mean, not toward 0 (or 0.5 for logistic),
  // and an action with no training rows predicts the mean.
  double mean = 0;
  for (double r : rounds.reward) mean += r;
  mean /= std::max<int64_t>(n, 1);
  const double clamped = std::min(std::max(mean, 1e-6), 1 - 1e-6);
  const double base = logistic ? std::log(clamped / (1 - clamped)) : mean;
  const std::vector<Vector> theta = logistic ? FitLogistic(rounds, fold, options, base)
                                             : FitRidge(rounds, fold, options, base);

  const int32_t p = rounds.feature_dim + 1;
  RewardPredictions out;
  out.dm.resize(n);
  out.chosen.resize(n);
  std::vector<double> x(p);
  auto predict = [&](int32_t action, int32_t f) {
    const Vector& t = theta[static_cast<size_t>(action) * k + f];
    double z = base;
    for (int32_t j = 0; j < p; ++j) z += t(j) * x[j];
    return logistic ? 1.0 / (1.0 + std::exp(-z)) : z;
  };
  const PmfTable& pmfs = rounds.target_pmfs;
  for (int64_t i = 0; i < n; ++i) {
    LoadRow(rounds, i, x.data());
    const int32_t f = fold[i];
    const int64_t row = rounds.target_row[i];
    double dm = 0;
    for (int64_t e = pmfs.offsets[row]; e < pmfs.offsets[row + 1]; ++e) {
      if (pmfs.probs[e] > 0) dm += pmfs.probs[e] * predict(pmfs.actions[e], f);
    }
    out.dm[i] = dm;
    out.chosen[i] = predict(rounds.action[i], f);
  }
  return out;
}

}  // namespace recbandit::bandits
