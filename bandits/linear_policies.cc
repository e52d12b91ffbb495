// Linear contextual policies over ridge regression: LinUCB (Li et al. 2010),
// linear Thompson sampling (Agrawal and Goyal 2013) and epsilon-greedy over a
// linear model, each with disjoint per-action models or one shared model over
// joint context/action features.
//
// Per model: A = lambda I + sum x x^T, b = sum r x, theta = A^-1 b. A^-1 is
// kept by Sherman-Morrison rank-1 updates and recomputed from A (Cholesky)
// every kRefreshEvery updates of that model, bounding round-off drift.
// Joint features of the shared model (joint=outer, the default):
//   x = vec([1; context] (x) [1; action])   (dim (c+1)(k+1): bias, context,
//   action and every context*action product), row i = context index;
// joint=concat: x = [context; action] (dim c+k; no interactions).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bandits/explore.h"
#include "bandits/policy_internal.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "proto/core/target_clones.h"

namespace recbandit::bandits::internal {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr int64_t kRefreshEvery = 1024;

enum class Mode { kUcb, kThompson, kEpsilonGreedy };

struct LinearParams {
  Mode mode = Mode::kUcb;
  double alpha = 1;     // linucb: width of the confidence bonus
  double lambda = 1;    // ridge prior A = lambda I
  double v = 1;         // lin_ts: posterior scale, theta ~ N(theta_hat, v^2 A^-1)
  double epsilon = 0.1; // lin_epsilon_greedy
  bool shared = false;
  bool outer = true;    // shared joint features: outer (true) or concat
};

struct Model {
  std::string id;  // empty for the shared model
  MatrixXd a;      // dim x dim
  MatrixXd a_inv;  // dim x dim
  VectorXd b;
  VectorXd theta;
  int64_t updates = 0;
  // Disjoint models: A^-1 as upper-triangle 8x8 blocks (PackUpperBlocks), the
  // 62% of it Choose reads for the confidence width at d = 32.
  std::vector<double> packed;

  void Init(int32_t dim, double lambda) {
    a = MatrixXd::Identity(dim, dim) * lambda;
    a_inv = MatrixXd::Identity(dim, dim) / lambda;
    b = VectorXd::Zero(dim);
    theta = VectorXd::Zero(dim);
  }
};

struct Scratch {
  VectorXd x, u, w, z, s;
  // Plain vectors keep their capacity when the number of actions changes.
  std::vector<double> means, vars, xs_buf, ys_buf, xpad;
  MatrixXd cov, m;
  std::vector<int32_t> index;
  std::vector<int64_t> wins;
  Eigen::LDLT<MatrixXd> ldlt;
  VectorXd dsqrt;
};
Scratch& GetScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Hot kernels, compiled for AVX-512, AVX2 and baseline x86-64 and picked at
// load time (GCC target_clones). Contraction into FMA is switched off and every
// sum runs in a fixed order over 8 independent lanes, so all clones give
// bit-identical results: a logged decision replays the same on any x86-64.
#define RECBANDIT_KERNEL                                  \
  RECBANDIT_TARGET_CLONES("avx512f", "avx2", "default") \
  __attribute__((optimize("fp-contract=off")))

// u = M x for a column-major d x d matrix M.
RECBANDIT_KERNEL void MatVec(const double* m, const double* x, int64_t d, double* u) {
  for (int64_t i = 0; i < d; ++i) u[i] = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double xj = x[j];
    const double* col = m + j * d;
    for (int64_t i = 0; i < d; ++i) u[i] += col[i] * xj;
  }
}

// M += w u^T for a column-major d x d matrix M (column j gets u_j * w).
RECBANDIT_KERNEL void AddOuter(double* m, const double* w, const double* u, int64_t d) {
  for (int64_t j = 0; j < d; ++j) {
    const double uj = u[j];
    double* col = m + j * d;
    for (int64_t i = 0; i < d; ++i) col[i] += w[i] * uj;
  }
}

// Eight doubles as one GCC vector: element-wise operations, lowered to
// AVX-512, AVX2 or SSE2 by the clone, with identical per-lane results.
typedef double V8 __attribute__((vector_size(64)));
// The same, readable at any 8-byte-aligned address.
typedef double V8Unaligned __attribute__((vector_size(64), aligned(8)));

#define RECBANDIT_LOAD8(p) (*reinterpret_cast<const V8Unaligned*>(p))

// Returns the sum of the 8 lanes of *acc plus the tail sums, in a fixed order.
__attribute__((always_inline)) inline double SumLanes(const V8* acc, const double* tail) {
  double lane[8];
  for (int k = 0; k < 8; ++k) lane[k] = (*acc)[k] + tail[k];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
         ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

// Accumulates sum_i a[i] * b[i] * scale over whole 8-blocks into four vector
// accumulators (block k goes to acc[k % 4], breaking the add latency chain).
__attribute__((always_inline)) inline void AccumulateBlocks(const double* a, const double* b, double scale,
                             int64_t blocks, V8* acc) {
  int64_t k = 0;
  for (; k + 4 <= blocks; k += 4) {
    acc[0] += (RECBANDIT_LOAD8(a + 8 * k) * RECBANDIT_LOAD8(b + 8 * k)) * scale;
    acc[1] += (RECBANDIT_LOAD8(a + 8 * k + 8) * RECBANDIT_LOAD8(b + 8 * k + 8)) * scale;
    acc[2] += (RECBANDIT_LOAD8(a + 8 * k + 16) * RECBANDIT_LOAD8(b + 8 * k + 16)) * scale;
    acc[3] += (RECBANDIT_LOAD8(a + 8 * k + 24) * RECBANDIT_LOAD8(b + 8 * k + 24)) * scale;
  }
  for (int r = 0; k < blocks; ++k, ++r) acc[r] += (RECBANDIT_LOAD8(a + 8 * k) * RECBANDIT_LOAD8(b + 8 * k)) * scale;
}

// Returns a . b (fixed summation order).
RECBANDIT_KERNEL double Dot(const double* a, const double* b, int64_t d) {
  V8 acc[4] = {};
  double tail[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const int64_t blocks = d / 8;
  AccumulateBlocks(a, b, 1.0, blocks, acc);
  for (int64_t i = blocks * 8, k = 0; i < d; ++i, ++k) tail[k] += a[i] * b[i];
  const V8 total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  return SumLanes(&total, tail);
}

// Writes the upper-triangle 8x8 blocks of the square matrix m (zero-padded to a
// multiple of 8): block (I, J), I <= J, in J-major order, each column-major.
void PackUpperBlocks(const MatrixXd& m, std::vector<double>* out) {
  const int64_t d = m.rows();
  const int64_t nb = (d + 7) / 8;
  out->assign(static_cast<size_t>(nb * (nb + 1) / 2 * 64), 0.0);
  double* p = out->data();
  for (int64_t bj = 0; bj < nb; ++bj) {
    for (int64_t bi = 0; bi <= bj; ++bi, p += 64) {
      for (int64_t c = 0; c < 8; ++c) {
        for (int64_t r = 0; r < 8; ++r) {
          const int64_t row = 8 * bi + r, col = 8 * bj + c;
          p[c * 8 + r] = row < d && col < d ? m(row, col) : 0.0;
        }
      }
    }
  }
}

// Returns x^T M x from PackUpperBlocks(M) with x zero-padded to 8 * nb entries:
// diagonal blocks once, off-diagonal ones twice (M symmetric). Fixed order.
RECBANDIT_KERNEL double QuadFormPacked(const double* p, const double* x, int64_t nb) {
  V8 acc[4] = {};
  for (int64_t bj = 0; bj < nb; ++bj) {
    const double* xj = x + 8 * bj;
    for (int64_t bi = 0; bi <= bj; ++bi, p += 64) {
      const double w = bi == bj ? 1.0 : 2.0;
      const V8 xi = RECBANDIT_LOAD8(x + 8 * bi);
      for (int c = 0; c < 8; c += 4) {
        acc[0] += (RECBANDIT_LOAD8(p + 8 * c) * xi) * (w * xj[c]);
        acc[1] += (RECBANDIT_LOAD8(p + 8 * c + 8) * xi) * (w * xj[c + 1]);
        acc[2] += (RECBANDIT_LOAD8(p + 8 * c + 16) * xi) * (w * xj[c + 2]);
        acc[3] += (RECBANDIT_LOAD8(p + 8 * c + 24) * xi) * (w * xj[c + 3]);
      }
    }
  }
  const V8 total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  const double zero[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  return SumLanes(&total, zero);
}

void WriteRowMajor(const MatrixXd& m, google::protobuf::RepeatedField<double>* out) {
  out->Resize(static_cast<int>(m.rows() * m.cols()), 0.0);
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    for (Eigen::Index j = 0; j < m.cols(); ++j) out->Set(i * m.cols() + j, m(i, j));
  }
}

void ReadRowMajor(const google::protobuf::RepeatedField<double>& in, int32_t dim,
                  MatrixXd* m) {
  m->resize(dim, dim);
  for (int32_t i = 0; i < dim; ++i) {
    for (int32_t j = 0; j < dim; ++j) (*m)(i, j) = in.Get(i * dim + j);
  }
}

bool AllFinite(const google::protobuf::RepeatedField<double>& v) {
  for (double x : v) {
    if (!std::isfinite(x)) return false;
  }
  return true;
}

// Thread-safe (Choose takes a reader lock, Update/Restore a writer lock).
class LinearPolicy final : public Policy {
 public:
  LinearPolicy(std::string family, std::string spec, const LinearParams& params,
               const PolicyOptions& options)
      : family_(std::move(family)), spec_(std::move(spec)), params_(params),
        options_(options) {
    if (!params_.shared) {
      dim_ = options_.context_dim;
    } else if (options_.action_dim >= 0) {
      dim_ = JointDim(options_.action_dim);
      shared_.Init(dim_, params_.lambda);
    }
  }

  const std::string& spec() const override { return spec_; }
  const std::string& family() const override { return family_; }

  int32_t JointDim(int32_t k) const {
    const int32_t c = options_.context_dim;
    return params_.outer ? (c + 1) * (k + 1) : c + k;
  }

  absl::Status Choose(const DecisionInput& input, uint64_t seed,
                      Decision* decision) const override {
    const int32_t n = static_cast<int32_t>(input.actions.size());
    if (n == 0) return absl::InvalidArgumentError("Choose: no actions offered");
    RETURN_IF_ERROR(CheckContext(input));
    Rng rng(seed);
    Scratch& s = GetScratch();
    absl::ReaderMutexLock lock(&mu_);
    if (params_.shared) {
      RETURN_IF_ERROR(ChooseShared(input, rng, s, decision));
    } else {
      ChooseDisjoint(input, rng, s, decision);
    }
    return absl::OkStatus();
  }

  absl::Status Update(const DecisionInput& input, int32_t chosen,
                      double reward) override {
    RETURN_IF_ERROR(internal::CheckUpdateArgs(input, chosen, reward));
    RETURN_IF_ERROR(CheckContext(input));
    absl::MutexLock lock(&mu_);
    Model* model = nullptr;
    VectorXd& x = GetScratch().x;
    if (params_.shared) {
      const auto& features = input.actions[chosen].features;
      const int32_t k = static_cast<int32_t>(features.size());
      if (dim_ < 0) {
        const int32_t dim = JointDim(k);
        if (dim > kMaxLinearDim) {
          return absl::InvalidArgumentError(absl::StrCat(
              family_, " model=shared: joint dimension ", dim, " (context ",
              options_.context_dim, ", action ", k, ") exceeds ", kMaxLinearDim));
        }
        dim_ = dim;
        shared_.Init(dim_, params_.lambda);
      }
      RETURN_IF_ERROR(Joint(input.context, features, &x));
      model = &shared_;
    } else {
      auto [it, inserted] =
          by_id_.try_emplace(input.actions[chosen].id, static_cast<int32_t>(arms_.size()));
      if (inserted) {
        arms_.emplace_back();
        arms_.back().id = input.actions[chosen].id;
        arms_.back().Init(dim_, params_.lambda);
        PackUpperBlocks(arms_.back().a_inv, &arms_.back().packed);
      }
      model = &arms_[it->second];
      x = Eigen::Map<const VectorXd>(input.context.data(), dim_);
    }
    Learn(*model, x, reward);
    ++version_;
    return absl::OkStatus();
  }

  PolicyState Snapshot() const override {
    PolicyState state;
    absl::ReaderMutexLock lock(&mu_);
    state.set_step(version_);
    LinearState* linear = state.mutable_linear();
    linear->set_dim(std::max(dim_, 0));
    linear->set_shared(params_.shared);
    auto add = [&](const Model& m) {
      LinearArm* arm = linear->add_arms();
      arm->set_action(m.id);
      WriteRowMajor(m.a, arm->mutable_a_matrix());
      WriteRowMajor(m.a_inv, arm->mutable_a_inverse());
      arm->mutable_b_vector()->Assign(m.b.data(), m.b.data() + m.b.size());
      arm->set_updates(m.updates);
    };
    if (params_.shared) {
      if (dim_ >= 0) add(shared_);
    } else {
      for (const Model& m : arms_) add(m);
    }
    return state;
  }

  absl::Status Restore(const PolicyState& state) override {
    if (state.state_case() != PolicyState::kLinear) {
      return absl::InvalidArgumentError(
          absl::StrCat("Restore: ", family_, " needs a linear state"));
    }
    const LinearState& in = state.linear();
    if (in.shared() != params_.shared) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Restore: state is ", in.shared() ? "shared" : "disjoint", " but ", spec_,
          " is ", params_.shared ? "shared" : "disjoint"));
    }
    int32_t dim = in.dim();
    absl::MutexLock lock(&mu_);
    if (!params_.shared || dim_ >= 0) {
      if (!(params_.shared && in.arms_size() == 0) && dim != dim_) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Restore: state dim ", dim, " differs from the policy's ", dim_));
      }
    } else if (in.arms_size() > 0) {
      const int32_t c = options_.context_dim;
      const bool ok = params_.outer ? (dim % (c + 1) == 0 && dim / (c + 1) >= 1)
                                    : dim >= c;
      if (!ok || dim > kMaxLinearDim) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Restore: state dim ", dim, " does not fit context_dim ", c));
      }
    }
    if (params_.shared && in.arms_size() > 1) {
      return absl::InvalidArgumentError("Restore: a shared state has one model");
    }
    std::vector<Model> models;
    absl::flat_hash_map<std::string, int32_t> by_id;
    for (int i = 0; i < in.arms_size(); ++i) {
      const LinearArm& arm = in.arms(i);
      const int64_t dd = static_cast<int64_t>(dim) * dim;
      if (arm.a_matrix_size() != dd || arm.b_vector_size() != dim ||
          (arm.a_inverse_size() != 0 && arm.a_inverse_size() != dd) ||
          arm.updates() < 0 || !AllFinite(arm.a_matrix()) || !AllFinite(arm.b_vector()) ||
          !AllFinite(arm.a_inverse()) || (!params_.shared && arm.action().empty())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Restore: linear.arms[", i, "] has wrong sizes (dim ", dim,
            ") or non-finite values"));
      }
      if (!params_.shared &&
          !by_id.try_emplace(arm.action(), static_cast<int32_t>(models.size())).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Restore: linear.arms[", i, "] repeats action ", Quote(arm.action())));
      }
      Model m;
      m.id = arm.action();
      ReadRowMajor(arm.a_matrix(), dim, &m.a);
      m.b = Eigen::Map<const VectorXd>(arm.b_vector().data(), dim);
      m.updates = arm.updates();
      if (arm.a_inverse_size() == dd) {
        ReadRowMajor(arm.a_inverse(), dim, &m.a_inv);
      } else {
        Eigen::LLT<MatrixXd> llt(m.a);
        if (llt.info() != Eigen::Success) {
          return absl::InvalidArgumentError(absl::StrCat(
              "Restore: linear.arms[", i, "].a_matrix is not positive definite"));
        }
        m.a_inv = llt.solve(MatrixXd::Identity(dim, dim));
      }
      m.theta = m.a_inv * m.b;
      PackUpperBlocks(m.a_inv, &m.packed);
      models.push_back(std::move(m));
    }
    if (params_.shared) {
      if (models.empty()) {
        if (options_.action_dim < 0) {
          dim_ = -1;
        } else {
          shared_.Init(dim_, params_.lambda);
        }
      } else {
        dim_ = dim;
        shared_ = std::move(models[0]);
      }
    } else {
      arms_ = std::move(models);
      by_id_ = std::move(by_id);
    }
    version_ = state.step();
    return absl::OkStatus();
  }

  int64_t version() const override {
    absl::ReaderMutexLock lock(&mu_);
    return version_;
  }

 private:
  absl::Status CheckContext(const DecisionInput& input) const {
    if (static_cast<int32_t>(input.context.size()) != options_.context_dim) {
      return absl::InvalidArgumentError(absl::StrCat(
          family_, ": context has ", input.context.size(), " values; expected context_dim ",
          options_.context_dim));
    }
    return absl::OkStatus();
  }

  // Writes the joint feature vector of the shared model into *x.
  absl::Status Joint(const std::vector<double>& context,
                     const std::vector<double>& action, VectorXd* x) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const int32_t c = static_cast<int32_t>(context.size());
    const int32_t k = static_cast<int32_t>(action.size());
    if (JointDim(k) != dim_) {
      return absl::InvalidArgumentError(absl::StrCat(
          family_, " model=shared: action has ", k,
          " features; the model was built for ", params_.outer ? dim_ / (c + 1) - 1 : dim_ - c));
    }
    x->resize(dim_);
    if (params_.outer) {
      double* out = x->data();
      for (int32_t i = -1; i < c; ++i) {
        const double ci = i < 0 ? 1.0 : context[i];
        *out++ = ci;
        for (int32_t j = 0; j < k; ++j) *out++ = ci * action[j];
      }
    } else {
      std::copy(context.begin(), context.end(), x->data());
      std::copy(action.begin(), action.end(), x->data() + c);
    }
    return absl::OkStatus();
  }

  void Learn(Model& m, const VectorXd& x, double reward) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t d = x.size();
    AddOuter(m.a.data(), x.data(), x.data(), d);
    m.b.noalias() += reward * x;
    ++m.updates;
    if (m.updates % kRefreshEvery == 0) {
      m.a_inv = m.a.llt().solve(MatrixXd::Identity(d, d));
    } else {
      // Sherman-Morrison: (A + x x^T)^-1 = A^-1 - (A^-1 x)(A^-1 x)^T / (1 + x^T A^-1 x).
      Scratch& s = GetScratch();
      s.u.resize(d);
      MatVec(m.a_inv.data(), x.data(), d, s.u.data());
      const double denom = 1.0 + Dot(x.data(), s.u.data(), d);
      s.w = s.u * (-1.0 / denom);
      AddOuter(m.a_inv.data(), s.w.data(), s.u.data(), d);
    }
    MatVec(m.a_inv.data(), m.b.data(), d, m.theta.data());
    if (!params_.shared) PackUpperBlocks(m.a_inv, &m.packed);
  }

  // Turns means and variances (of each action's expected reward) into the pmf.
  void FinishIndependent(int32_t n, Rng& rng, Scratch& s, Decision* decision) const {
    std::vector<double>& pmf = decision->pmf;
    if (params_.mode == Mode::kThompson) {
      // Disjoint models are independent: each score ~ N(mean, v^2 var).
      auto winner = [&]() {
        int32_t best = 0;
        double best_value = -std::numeric_limits<double>::infinity();
        for (int32_t i = 0; i < n; ++i) {
          const double value =
              s.means[i] + params_.v * std::sqrt(std::max(0.0, s.vars[i])) * rng.Normal();
          if (value > best_value) {
            best_value = value;
            best = i;
          }
        }
        return best;
      };
      ThompsonPmf(n, rng, s, winner, decision);
      return;
    }
    pmf.resize(n);
    if (params_.mode == Mode::kUcb) {
      for (int32_t i = 0; i < n; ++i) {
        pmf[i] = s.means[i] + params_.alpha * std::sqrt(std::max(0.0, s.vars[i]));
      }
      GreedyPmf(pmf, absl::MakeSpan(pmf));
    } else {
      for (int32_t i = 0; i < n; ++i) pmf[i] = s.means[i];
      EpsilonGreedyPmf(pmf, params_.epsilon, absl::MakeSpan(pmf));
    }
    ApplyExplorationFloor(options_.exploration_floor, absl::MakeSpan(pmf));
    decision->chosen = SampleFromPmf(pmf, rng);
  }

  template <typename Winner>
  void ThompsonPmf(int32_t n, Rng& rng, Scratch& s, Winner& winner,
                   Decision* decision) const {
    std::vector<double>& pmf = decision->pmf;
    if (!options_.compute_pmf) {
      pmf.clear();
      const double w = FloorMixWeight(options_.exploration_floor, n);
      if (w > 0 && rng.Uniform() < w) {
        decision->chosen = static_cast<int32_t>(rng.UniformInt(n));
      } else {
        decision->chosen = winner();
      }
      return;
    }
    s.wins.assign(n, 0);
    const int32_t draws = options_.thompson_pmf_draws;
    for (int32_t d = 0; d < draws; ++d) ++s.wins[winner()];
    pmf.resize(n);
    for (int32_t i = 0; i < n; ++i) {
      pmf[i] = static_cast<double>(s.wins[i]) / static_cast<double>(draws);
    }
    ApplyExplorationFloor(options_.exploration_floor, absl::MakeSpan(pmf));
    decision->chosen = SampleFromPmf(pmf, rng);
  }

  void ChooseDisjoint(const DecisionInput& input, Rng& rng, Scratch& s,
                      Decision* decision) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const int32_t n = static_cast<int32_t>(input.actions.size());
    const Eigen::Map<const VectorXd> x(input.context.data(), dim_);
    s.means.resize(n);
    s.vars.resize(n);
    const bool need_var = params_.mode != Mode::kEpsilonGreedy;
    const double prior_var = need_var ? Dot(x.data(), x.data(), dim_) / params_.lambda : 0.0;
    const int64_t nb = (dim_ + 7) / 8;
    s.xpad.assign(static_cast<size_t>(nb * 8), 0.0);
    std::copy(input.context.begin(), input.context.end(), s.xpad.begin());
    for (int32_t i = 0; i < n; ++i) {
      auto it = by_id_.find(input.actions[i].id);
      if (it == by_id_.end()) {
        s.means[i] = 0.0;
        s.vars[i] = prior_var;
        continue;
      }
      const Model& m = arms_[it->second];
      s.means[i] = Dot(m.theta.data(), x.data(), dim_);
      if (need_var) {
        s.vars[i] = QuadFormPacked(m.packed.data(), s.xpad.data(), nb);
      }
    }
    FinishIndependent(n, rng, s, decision);
  }

  absl::Status ChooseShared(const DecisionInput& input, Rng& rng, Scratch& s,
                            Decision* decision) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const int32_t n = static_cast<int32_t>(input.actions.size());
    const int32_t c = options_.context_dim;
    const int32_t k = static_cast<int32_t>(input.actions[0].features.size());
    // Before the first update (action_dim unknown) the model is the prior.
    const bool prior = dim_ < 0;
    const int32_t dim = prior ? JointDim(k) : dim_;
    if (dim > kMaxLinearDim) {
      return absl::InvalidArgumentError(absl::StrCat(
          family_, " model=shared: joint dimension ", dim, " exceeds ", kMaxLinearDim));
    }
    s.xs_buf.resize(static_cast<size_t>(dim) * n);
    s.ys_buf.resize(static_cast<size_t>(dim) * n);
    s.means.resize(n);
    s.vars.resize(n);
    Eigen::Map<MatrixXd> xs(s.xs_buf.data(), dim, n);
    Eigen::Map<MatrixXd> ys(s.ys_buf.data(), dim, n);
    Eigen::Map<VectorXd> means(s.means.data(), n);
    Eigen::Map<VectorXd> vars(s.vars.data(), n);
    for (int32_t i = 0; i < n; ++i) {
      const auto& f = input.actions[i].features;
      if (static_cast<int32_t>(f.size()) != k || JointDim(k) != dim) {
        return absl::InvalidArgumentError(absl::StrCat(
            family_, " model=shared: actions[", i, "] has ", f.size(),
            " features; expected ", prior ? k : (params_.outer ? dim / (c + 1) - 1 : dim - c)));
      }
      double* out = xs.col(i).data();
      if (params_.outer) {
        for (int32_t a = -1; a < c; ++a) {
          const double ca = a < 0 ? 1.0 : input.context[a];
          *out++ = ca;
          for (int32_t j = 0; j < k; ++j) *out++ = ca * f[j];
        }
      } else {
        std::copy(input.context.begin(), input.context.end(), out);
        std::copy(f.begin(), f.end(), out + c);
      }
    }
    if (prior) {
      means.setZero();
      ys = xs / params_.lambda;
    } else {
      means.noalias() = xs.transpose() * shared_.theta;
      if (params_.mode != Mode::kEpsilonGreedy) ys.noalias() = shared_.a_inv * xs;
    }
    if (params_.mode != Mode::kThompson) {
      if (params_.mode == Mode::kUcb) {
        vars = (xs.cwiseProduct(ys)).colwise().sum().transpose();
      }
      FinishIndependent(n, rng, s, decision);
      return absl::OkStatus();
    }
    // Scores X^T theta~ with theta~ ~ N(theta_hat, v^2 A^-1) are jointly normal
    // with covariance S = v^2 X^T A^-1 X (n x n); draw them as means + M z with
    // M M^T = S from a pivoted LDLT (S = P^T L D L^T P, M = P^T L sqrt(D)),
    // which is exact for a singular S too (more actions than dimensions, or
    // actions with equal features).
    s.cov.noalias() = xs.transpose() * ys;
    s.ldlt.compute(s.cov);
    s.dsqrt = params_.v * s.ldlt.vectorD().cwiseMax(0.0).cwiseSqrt();
    s.m = MatrixXd(s.ldlt.matrixL()) * s.dsqrt.asDiagonal();
    s.m = s.ldlt.transpositionsP().transpose() * s.m;
    s.z.resize(n);
    auto winner = [&]() {
      for (int32_t i = 0; i < n; ++i) s.z[i] = rng.Normal();
      s.s.noalias() = s.m * s.z;
      s.s += means;
      Eigen::Index best = 0;
      s.s.maxCoeff(&best);
      return static_cast<int32_t>(best);
    };
    ThompsonPmf(n, rng, s, winner, decision);
    return absl::OkStatus();
  }

  const std::string family_;
  const std::string spec_;
  const LinearParams params_;
  const PolicyOptions options_;
  mutable absl::Mutex mu_;
  int32_t dim_ ABSL_GUARDED_BY(mu_) = -1;  // -1: shared, not yet fixed
  std::vector<Model> arms_ ABSL_GUARDED_BY(mu_);  // disjoint, first-seen order
  absl::flat_hash_map<std::string, int32_t> by_id_ ABSL_GUARDED_BY(mu_);
  Model shared_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Policy>> CreateLinearPolicy(const PolicySpec& spec,
                                                           const PolicyOptions& options) {
  SpecParams p(spec);
  LinearParams params;
  const std::string& f = spec.family;
  std::string canonical = f + ":";
  if (f == "linucb") {
    params.mode = Mode::kUcb;
    ASSIGN_OR_RETURN(params.alpha, p.Double("alpha", 1, 0, 1e6));
    absl::StrAppend(&canonical, "alpha=", FormatNumber(params.alpha));
  } else if (f == "lin_ts") {
    params.mode = Mode::kThompson;
    ASSIGN_OR_RETURN(params.v, p.Double("v", 1, 0, 1e6));
    absl::StrAppend(&canonical, "v=", FormatNumber(params.v));
  } else if (f == "lin_epsilon_greedy") {
    params.mode = Mode::kEpsilonGreedy;
    ASSIGN_OR_RETURN(params.epsilon, p.Double("epsilon", 0.1, 0, 1));
    absl::StrAppend(&canonical, "epsilon=", FormatNumber(params.epsilon));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown policy family ", Quote(f)));
  }
  ASSIGN_OR_RETURN(params.lambda, p.Double("lambda", 1, 0, 1e12, /*lo_open=*/true));
  absl::StrAppend(&canonical, ",lambda=", FormatNumber(params.lambda));
  ASSIGN_OR_RETURN(std::string model, p.Choice("model", "disjoint", {"disjoint", "shared"}));
  params.shared = model == "shared";
  if (params.shared) {
    ASSIGN_OR_RETURN(std::string joint, p.Choice("joint", "outer", {"outer", "concat"}));
    params.outer = joint == "outer";
    absl::StrAppend(&canonical, ",model=shared,joint=", joint);
  }
  RETURN_IF_ERROR(p.CheckAllUsed());
  const int32_t c = options.context_dim;
  const int64_t dim =
      !params.shared ? c
      : options.action_dim < 0
          ? 0
          : (params.outer ? int64_t{c + 1} * (options.action_dim + 1)
                          : int64_t{c} + options.action_dim);
  if (dim > kMaxLinearDim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy ", f, ": model dimension ", dim, " exceeds ", kMaxLinearDim,
        " (it keeps dim x dim matrices; with hashed features keep hash_bits <= 12)"));
  }
  return std::unique_ptr<Policy>(new LinearPolicy(f, canonical, params, options));
}

}  // namespace recbandit::bandits::internal
