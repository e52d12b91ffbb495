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
// Disjoint LinUCB screens the offered actions with float32 bounds and scores
// exactly only those that can be maximal (see "LinUCB screening" below): the
// same pmf and chosen action, bitwise, as scoring every action exactly.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
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
  // Disjoint models other than screened LinUCB: A^-1 as upper-triangle 8x8
  // blocks (PackUpperBlocks), the 62% of it Choose reads for the confidence
  // width at d = 32.
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
  std::vector<double> means, vars, xs_buf, ys_buf, xpad, work, packed;
  std::vector<float> xx;      // screen: the context's products, scaled
  std::vector<int32_t> arm;   // screen: arm index per action, -1 = unseen
  std::vector<char> exact;    // screen: score is exact
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

// Reads an id of at most 16 bytes as two (overlapping) words: distinct ids of
// one length give distinct pairs.
inline void LoadShortId(absl::string_view s, uint64_t* lo, uint64_t* hi) {
  const char* p = s.data();
  const size_t n = s.size();
  if (n >= 8) {
    std::memcpy(lo, p, 8);
    std::memcpy(hi, p + n - 8, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    *lo = a;
    *hi = b;
  } else {
    *lo = n == 0 ? 0
                 : static_cast<unsigned char>(p[0]) |
                       static_cast<unsigned char>(p[n / 2]) << 8 |
                       static_cast<unsigned char>(p[n - 1]) << 16;
    *hi = 0;
  }
}

// Hash and equality of action ids: ids of at most 16 bytes (the usual case)
// are compared and hashed inline, as two words.
struct IdHash {
  using is_transparent = void;
  size_t operator()(absl::string_view s) const {
    if (s.size() > 16) return absl::Hash<absl::string_view>{}(s);
    uint64_t lo, hi;
    LoadShortId(s, &lo, &hi);
    return Mix64(lo ^ Mix64(hi + s.size()));
  }
};
struct IdEq {
  using is_transparent = void;
  bool operator()(absl::string_view a, absl::string_view b) const {
    if (a.size() != b.size()) return false;
    if (a.size() > 16) return a == b;
    uint64_t alo, ahi, blo, bhi;
    LoadShortId(a, &alo, &ahi);
    LoadShortId(b, &blo, &bhi);
    return alo == blo && ahi == bhi;
  }
};
// Action id -> index of its arm.
using IdMap = absl::flat_hash_map<std::string, int32_t, IdHash, IdEq>;

// std::allocator with 64-byte (cache line) alignment.
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const CacheLineAllocator&) const { return true; }
  bool operator!=(const CacheLineAllocator&) const { return false; }
};

// Hot kernels, compiled for AVX-512, AVX2 and baseline x86-64 and picked at
// load time (GCC target_clones). Contraction into FMA is switched off and every
// sum runs in a fixed order over 8 independent lanes, so all clones give
// bit-identical results: a logged decision replays the same on any x86-64.
#define RECBANDIT_KERNEL                                  \
  RECBANDIT_TARGET_CLONES("avx512f", "avx2", "default") \
  __attribute__((optimize("fp-contract=off")))
// Clang ignores the optimize attribute: the same, as the first statement of
// such a function's body.
#if defined(__clang__)
#define RECBANDIT_NO_CONTRACT _Pragma("clang fp contract(off)")
#else
#define RECBANDIT_NO_CONTRACT
#endif

// Eight doubles as one GCC vector: element-wise operations, lowered to
// AVX-512, AVX2 or SSE2 by the clone, with identical per-lane results.
typedef double V8 __attribute__((vector_size(64)));
// The same, readable at any 8-byte-aligned address.
typedef double V8Unaligned __attribute__((vector_size(64), aligned(8)));

#define RECBANDIT_LOAD8(p) (*reinterpret_cast<const V8Unaligned*>(p))
#define RECBANDIT_STORE8(p, v) (*reinterpret_cast<V8Unaligned*>(p) = (v))

// u = M x for a column-major d x d matrix M: u_i = ((0 + M_i0 x_0) + M_i1 x_1)
// + ..., in that order for every i. 32 (then 8) rows at a time stay in
// registers across the columns. REQUIRES: u does not overlap m or x.
RECBANDIT_KERNEL void MatVec(const double* __restrict m, const double* __restrict x, int64_t d,
                             double* __restrict u) {
  RECBANDIT_NO_CONTRACT
  int64_t i = 0;
  for (; i + 32 <= d; i += 32) {
    V8 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (int64_t j = 0; j < d; ++j) {
      const double* col = m + j * d + i;
      const double xj = x[j];
      a0 += RECBANDIT_LOAD8(col) * xj;
      a1 += RECBANDIT_LOAD8(col + 8) * xj;
      a2 += RECBANDIT_LOAD8(col + 16) * xj;
      a3 += RECBANDIT_LOAD8(col + 24) * xj;
    }
    RECBANDIT_STORE8(u + i, a0);
    RECBANDIT_STORE8(u + i + 8, a1);
    RECBANDIT_STORE8(u + i + 16, a2);
    RECBANDIT_STORE8(u + i + 24, a3);
  }
  for (; i + 8 <= d; i += 8) {
    V8 a0 = {};
    for (int64_t j = 0; j < d; ++j) a0 += RECBANDIT_LOAD8(m + j * d + i) * x[j];
    RECBANDIT_STORE8(u + i, a0);
  }
  for (; i < d; ++i) {
    double a = 0.0;
    for (int64_t j = 0; j < d; ++j) a += m[j * d + i] * x[j];
    u[i] = a;
  }
}

// M += w u^T for a column-major d x d matrix M (column j gets u_j * w).
// REQUIRES: m does not overlap w or u (w and u may be the same vector).
RECBANDIT_KERNEL void AddOuter(double* __restrict m, const double* __restrict w,
                               const double* __restrict u, int64_t d) {
  RECBANDIT_NO_CONTRACT
  for (int64_t j = 0; j < d; ++j) {
    const double uj = u[j];
    double* col = m + j * d;
    for (int64_t i = 0; i < d; ++i) col[i] += w[i] * uj;
  }
}

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
  RECBANDIT_NO_CONTRACT
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
  out->resize(static_cast<size_t>(nb * (nb + 1) / 2 * 64));
  double* p = out->data();
  const double* data = m.data();  // column-major
  for (int64_t bj = 0; bj < nb; ++bj) {
    for (int64_t bi = 0; bi <= bj; ++bi, p += 64) {
      for (int64_t c = 0; c < 8; ++c) {
        const int64_t col = 8 * bj + c;
        if (col < d && 8 * bi + 8 <= d) {  // a whole column segment
          std::memcpy(p + c * 8, data + col * d + 8 * bi, 8 * sizeof(double));
          continue;
        }
        for (int64_t r = 0; r < 8; ++r) {
          const int64_t row = 8 * bi + r;
          p[c * 8 + r] = row < d && col < d ? data[col * d + row] : 0.0;
        }
      }
    }
  }
}

// Returns x^T M x from PackUpperBlocks(M) with x zero-padded to 8 * nb entries:
// diagonal blocks once, off-diagonal ones twice (M symmetric). Fixed order.
RECBANDIT_KERNEL double QuadFormPacked(const double* p, const double* x, int64_t nb) {
  RECBANDIT_NO_CONTRACT
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

// Returns QuadFormPacked(PackUpperBlocks(M), x, d / 8), bitwise (the same
// operations in the same order), reading the column-major d x d matrix M in
// place. REQUIRES: d a multiple of 8.
RECBANDIT_KERNEL double QuadFormUpper(const double* m, const double* x, int64_t d) {
  RECBANDIT_NO_CONTRACT
  const int64_t nb = d / 8;
  V8 acc[4] = {};
  for (int64_t bj = 0; bj < nb; ++bj) {
    const double* xj = x + 8 * bj;
    for (int64_t bi = 0; bi <= bj; ++bi) {
      const double* p = m + 8 * bj * d + 8 * bi;  // block (bi, bj), column by column
      const double w = bi == bj ? 1.0 : 2.0;
      const V8 xi = RECBANDIT_LOAD8(x + 8 * bi);
      for (int c = 0; c < 8; c += 4) {
        acc[0] += (RECBANDIT_LOAD8(p + c * d) * xi) * (w * xj[c]);
        acc[1] += (RECBANDIT_LOAD8(p + (c + 1) * d) * xi) * (w * xj[c + 1]);
        acc[2] += (RECBANDIT_LOAD8(p + (c + 2) * d) * xi) * (w * xj[c + 2]);
        acc[3] += (RECBANDIT_LOAD8(p + (c + 3) * d) * xi) * (w * xj[c + 3]);
      }
    }
  }
  const V8 total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  const double zero[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  return SumLanes(&total, zero);
}

// ---- LinUCB screening (disjoint models). The greedy pmf needs the exact UCB
// score only of the actions that can be maximal: the others get pmf 0 however
// their score rounds. Per arm, a float32 copy of theta and of the
// coefficients of x^T A^-1 x (scaled by powers of two) gives mean and
// variance to a proven bound, hence an upper bound of the score; an action
// whose bound is below the exact score of the action with the largest bound
// cannot win or tie and keeps pmf 0, the others get exactly the score the
// unscreened path computes (Dot, QuadFormPacked, UcbScores). So pmf and
// chosen action are bitwise those of the unscreened path, while Choose reads
// 2.3 KB per arm (d = 32) instead of 5.3 KB, in float.

// Largest disjoint dimension screened (the float copy costs 2 d^2 bytes/arm).
constexpr int32_t kMaxScreenDim = 512;

std::atomic<bool> g_screening{true};

// Number of coefficients of the screen for dimension d: the upper triangle
// (r <= c) packed column by column, padded to a multiple of 16 floats.
int64_t ScreenLength(int64_t d) { return (d * (d + 1) / 2 + 15) / 16 * 16; }

// Returns 2^k. REQUIRES: -1022 <= k <= 1023.
inline double Pow2(int k) {
  const uint64_t bits = static_cast<uint64_t>(k + 1023) << 52;
  double out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// Writes out[i] = mean[i] + alpha * sqrt(max(0, var[i])), i < n: the one UCB
// score expression, used by the screened and unscreened paths alike. Never
// contracted into an FMA (the same bits in every build, -march=native too),
// and non-decreasing in var[i] (IEEE sqrt, * and + round monotonically).
__attribute__((noinline, optimize("fp-contract=off", "no-math-errno"))) void UcbScores(
    const double* mean, const double* var, double alpha, int64_t n, double* out) {
  RECBANDIT_NO_CONTRACT
  for (int64_t i = 0; i < n; ++i) {
    const double v = 0.0 < var[i] ? var[i] : 0.0;  // std::max(0.0, var[i])
    out[i] = mean[i] + alpha * std::sqrt(v);
  }
}

typedef float F16 __attribute__((vector_size(64)));
typedef float F16Unaligned __attribute__((vector_size(64), aligned(4)));
#define RECBANDIT_LOAD16F(p) (*reinterpret_cast<const F16Unaligned*>(p))

// Per-arm screen record, cache-line aligned and contiguous across arms so
// Choose streams them: a header of 8 doubles
//   [0] tq: sum over QuadFormPacked's terms of |A^-1 entry| x weight, scaled
//       by 2^eq (< 0: arm not screened, Choose computes it exactly)
//   [1] eq   [2] tm: ||theta||_1 scaled by 2^em   [3] em
// then floats: theta scaled by 2^em (max |.| < 1), padded to a multiple of
// 16, then the ScreenLength(dim) coefficients of x^T A^-1 x that
// QuadFormPacked's terms add up to (x_r x_c, r <= c, column by column),
// scaled by 2^eq (max |.| < 1).
struct ScreenLayout {
  int64_t dim = 0;
  int64_t theta_len = 0;  // floats
  int64_t length = 0;     // floats of coefficients
  int64_t stride = 0;     // doubles per arm, a multiple of 8 (64 bytes)
  // Error bounds, in scaled units: |float mean - exact| <= gamma_m * tm *
  // max|x| + tiny, |float form - exact| <= gamma_q * tq * max x^2 + tiny.
  // Each gamma is 4x the rounding analysis of ScreenForms: per term at most 5
  // roundings (entry, context values, products), then at most n / 16 + 8
  // sums of n floats on the way to the result; the 4x also covers Dot's and
  // QuadFormPacked's own (double) rounding. tiny bounds the absolute error of
  // float underflow, flush-to-zero included (every scaled operand has
  // magnitude < 1, so each term loses at most 6 x 2^-126).
  double gamma_m = 0, gamma_q = 0, tiny = 0;

  explicit ScreenLayout(int64_t d = 0) : dim(d) {
    theta_len = (d + 15) / 16 * 16;
    length = ScreenLength(d);
    stride = 8 + ((theta_len + length) / 2 + 7) / 8 * 8;
    gamma_m = 4.0 * static_cast<double>(theta_len / 16 + 24) * 0x1p-24;
    gamma_q = 4.0 * static_cast<double>(length / 16 + 24) * 0x1p-24;
    tiny = static_cast<double>(length + theta_len + 16) * 0x1p-118;
  }
};

// Returns the 16 lanes of v summed as a tree, in registers.
__attribute__((always_inline)) inline float SumLanes16(const F16& lanes) {
  F16 v = lanes;
  v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
  v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
  v += __builtin_shufflevector(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0);
  return v[0];
}

// For each i with arm[i] >= 0, from the record of arm[i] (records + arm[i] *
// stride; layout above) and the scaled context `xs` (theta_len floats, then
// its `length` products in the coefficients' order): mean[i] = scaled
// theta . xs and form[i] = coefficients . products, in float (one
// accumulator for theta, four for the form, two arms at a time, tree sums).
// Clones differ in the last bits (FMA or not); the bounds hold for all.
RECBANDIT_TARGET_CLONES("avx512f", "arch=x86-64-v3", "default")
void ScreenForms(const double* records, int64_t stride, const int32_t* arm, int64_t n,
                 const float* xs, int64_t theta_len, int64_t length, double* mean,
                 double* form) {
  const float* xx = xs + theta_len;
  int64_t i = 0;
  while (true) {
    while (i < n && arm[i] < 0) ++i;
    if (i >= n) break;
    int64_t j = i + 1;
    while (j < n && arm[j] < 0) ++j;
    const bool two = j < n;
    // The headers come next (Choose reads them after this pass).
    __builtin_prefetch(records + arm[i] * stride);
    if (two) __builtin_prefetch(records + arm[j] * stride);
    const float* a = reinterpret_cast<const float*>(records + arm[i] * stride + 8);
    const float* b = two ? reinterpret_cast<const float*>(records + arm[j] * stride + 8) : a;
    F16 am = {}, bm = {};
    for (int64_t k = 0; k < theta_len; k += 16) {
      const F16 y = RECBANDIT_LOAD16F(xs + k);
      am += RECBANDIT_LOAD16F(a + k) * y;
      bm += RECBANDIT_LOAD16F(b + k) * y;
    }
    a += theta_len;
    b += theta_len;
    F16 acc[4] = {}, bcc[4] = {};
    int64_t k = 0;
    for (; k + 64 <= length; k += 64) {
      for (int r = 0; r < 4; ++r) {
        const F16 y = RECBANDIT_LOAD16F(xx + k + 16 * r);
        acc[r] += RECBANDIT_LOAD16F(a + k + 16 * r) * y;
        bcc[r] += RECBANDIT_LOAD16F(b + k + 16 * r) * y;
      }
    }
    for (int r = 0; k < length; k += 16, ++r) {
      const F16 y = RECBANDIT_LOAD16F(xx + k);
      acc[r] += RECBANDIT_LOAD16F(a + k) * y;
      bcc[r] += RECBANDIT_LOAD16F(b + k) * y;
    }
    mean[i] = SumLanes16(am);
    form[i] = SumLanes16((acc[0] + acc[1]) + (acc[2] + acc[3]));
    if (!two) break;
    mean[j] = SumLanes16(bm);
    form[j] = SumLanes16((bcc[0] + bcc[1]) + (bcc[2] + bcc[3]));
    i = j + 1;
  }
}

// Writes xs[length..) = the products xs_r xs_c, r <= c, in the coefficients'
// order (zero padded), as float products of the floats xs[0..d).
RECBANDIT_TARGET_CLONES("avx512f", "arch=x86-64-v3", "default")
void ScreenProducts(float* xs, int64_t d, int64_t theta_len, int64_t length) {
  float* xx = xs + theta_len;
  for (int64_t c = 0; c < d; ++c) {
    float* out = xx + c * (c + 1) / 2;
    const float xc = xs[c];
    for (int64_t r = 0; r <= c; ++r) out[r] = xs[r] * xc;
  }
  for (int64_t k = d * (d + 1) / 2; k < length; ++k) xx[k] = 0.0f;
}

// Returns the exponent e with max_abs = f 2^e, f in [0.5, 1) (0 for 0), or
// INT_MAX when max_abs or sum is not finite or e is outside +-1000.
int ScaleExponent(double max_abs, double sum) {
  if (!std::isfinite(max_abs) || !std::isfinite(sum)) return std::numeric_limits<int>::max();
  int e = 0;
  if (max_abs > 0) std::frexp(max_abs, &e);
  return e < -1000 || e > 1000 ? std::numeric_limits<int>::max() : e;
}

// Writes the screen record of one arm (layout above) from theta and the
// column-major A^-1 (dim x dim). `work` is scratch.
RECBANDIT_TARGET_CLONES("avx512f", "arch=x86-64-v3", "default")
void WriteScreenRecord(const ScreenLayout& layout, const VectorXd& theta, const MatrixXd& a_inv,
                       std::vector<double>* work, double* rec) {
  const int64_t d = layout.dim;
  const int64_t length = layout.length;
  double* header = rec;
  float* theta_s = reinterpret_cast<float*>(rec + 8);
  float* coef = theta_s + layout.theta_len;
  // QuadFormPacked's terms: diagonal 8x8 blocks whole (M_rc and M_cr once
  // each), blocks above them twice (2 M_rc, r < c). Coefficient of x_r x_c
  // (r <= c) at c (c + 1) / 2 + r. tq sums the terms' |coefficient|.
  // w: coefficients; u: the sum of |term coefficient| each stands for.
  const int64_t padded = (length + 31) / 32 * 32;
  work->resize(static_cast<size_t>(2 * padded));
  double* __restrict w = work->data();
  double* __restrict u = w + padded;
  const double* __restrict m = a_inv.data();
  for (int64_t c = 0; c < d; ++c) {
    const double* __restrict col = m + c * d;
    double* __restrict out = w + c * (c + 1) / 2;
    double* __restrict abs_out = u + c * (c + 1) / 2;
    const int64_t block = c / 8 * 8;
    for (int64_t r = 0; r < block; ++r) {
      out[r] = 2.0 * col[r];
      abs_out[r] = 2.0 * std::abs(col[r]);
    }
    const double* lower = m + block * d + c;  // M(c, block), then along row c
    for (int64_t r = block; r < c; ++r, lower += d) {
      out[r] = col[r] + *lower;
      abs_out[r] = std::abs(col[r]) + std::abs(*lower);
    }
    out[c] = col[c];
    abs_out[c] = std::abs(col[c]);
  }
  std::fill(w + d * (d + 1) / 2, w + padded, 0.0);
  std::fill(u + d * (d + 1) / 2, u + padded, 0.0);
  V8 s0 = {}, s1 = {}, s2 = {}, s3 = {}, l0 = {}, l1 = {}, l2 = {}, l3 = {};
  for (int64_t k = 0; k < padded; k += 32) {
    const V8 a0 = RECBANDIT_LOAD8(u + k), a1 = RECBANDIT_LOAD8(u + k + 8);
    const V8 a2 = RECBANDIT_LOAD8(u + k + 16), a3 = RECBANDIT_LOAD8(u + k + 24);
    s0 += a0;
    s1 += a1;
    s2 += a2;
    s3 += a3;
    l0 = a0 > l0 ? a0 : l0;
    l1 = a1 > l1 ? a1 : l1;
    l2 = a2 > l2 ? a2 : l2;
    l3 = a3 > l3 ? a3 : l3;
  }
  const V8 sum_all = (s0 + s1) + (s2 + s3);
  l0 = l1 > l0 ? l1 : l0;
  l2 = l3 > l2 ? l3 : l2;
  const V8 top_all = l2 > l0 ? l2 : l0;
  double tq = 0, top = 0;
  for (int k = 0; k < 8; ++k) {
    tq += sum_all[k];
    top = std::max(top, top_all[k]);
  }
  // |coefficient k| <= u[k] <= top.
  const int eq = ScaleExponent(top, tq);
  double tm = 0, theta_top = 0;
  for (int64_t i = 0; i < d; ++i) {
    tm += std::abs(theta[i]);
    theta_top = std::max(theta_top, std::abs(theta[i]));
  }
  const int em = ScaleExponent(theta_top, tm);
  if (eq == std::numeric_limits<int>::max() || em == std::numeric_limits<int>::max()) {
    header[0] = -1.0;  // not screened
    return;
  }
  const double sq = Pow2(-eq), sm = Pow2(-em);
  for (int64_t k = 0; k < d * (d + 1) / 2; ++k) coef[k] = static_cast<float>(w[k] * sq);
  for (int64_t k = d * (d + 1) / 2; k < length; ++k) coef[k] = 0.0f;
  for (int64_t i = 0; i < d; ++i) theta_s[i] = static_cast<float>(theta[i] * sm);
  for (int64_t i = d; i < layout.theta_len; ++i) theta_s[i] = 0.0f;
  // (1 + 2^-30): the rounding of these double sums.
  header[0] = tq * sq * (1.0 + 0x1p-30);
  header[1] = -eq;
  header[2] = tm * sm * (1.0 + 0x1p-30);
  header[3] = -em;
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
        options_(options),
        screen_(params.mode == Mode::kUcb && !params.shared && options.context_dim > 0 &&
                options.context_dim <= kMaxScreenDim),
        layout_(screen_ ? options.context_dim : 0) {
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
    } else if (!screen_ || !g_screening.load(std::memory_order_relaxed) ||
               !ChooseDisjointScreened(input, rng, s, decision)) {
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
        if (screen_) {
          screen_records_.resize(arms_.size() * layout_.stride);
        } else {
          PackUpperBlocks(arms_.back().a_inv, &arms_.back().packed);
        }
      }
      model = &arms_[it->second];
      x = Eigen::Map<const VectorXd>(input.context.data(), dim_);
    }
    Learn(*model, x, reward);
    if (screen_) {
      const int64_t arm = model - arms_.data();
      WriteScreenRecord(layout_, model->theta, model->a_inv, &GetScratch().work,
                        screen_records_.data() + arm * layout_.stride);
    }
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
    IdMap by_id;
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
      if (!screen_) PackUpperBlocks(m.a_inv, &m.packed);
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
      if (screen_) {
        screen_records_.assign(arms_.size() * layout_.stride, 0.0);
        for (size_t i = 0; i < arms_.size(); ++i) {
          WriteScreenRecord(layout_, arms_[i].theta, arms_[i].a_inv, &GetScratch().work,
                            screen_records_.data() + i * layout_.stride);
        }
      }
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
    if (!params_.shared && !screen_) PackUpperBlocks(m.a_inv, &m.packed);
  }

  // Returns x^T A^-1 x for a disjoint model as QuadFormPacked computes it
  // (xpad: x zero-padded to 8 nb entries). Screened policies keep no packed
  // copy: QuadFormUpper reads A^-1 in place, or a scratch copy is packed.
  double ExactVar(const Model& m, const double* xpad, int64_t nb) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (!screen_) return QuadFormPacked(m.packed.data(), xpad, nb);
    if (dim_ % 8 == 0) return QuadFormUpper(m.a_inv.data(), xpad, dim_);
    std::vector<double>& packed = GetScratch().packed;
    PackUpperBlocks(m.a_inv, &packed);
    return QuadFormPacked(packed.data(), xpad, nb);
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
      UcbScores(s.means.data(), s.vars.data(), params_.alpha, n, pmf.data());
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
        s.vars[i] = ExactVar(m, s.xpad.data(), nb);
      }
    }
    FinishIndependent(n, rng, s, decision);
  }

  // LinUCB over disjoint models with screening (see ScreenLayout): the same
  // pmf and chosen action as ChooseDisjoint, bitwise. Returns false, having
  // decided nothing, for inputs it leaves to ChooseDisjoint (a non-finite
  // context, mean or score; a context scale beyond 2^+-500).
  bool ChooseDisjointScreened(const DecisionInput& input, Rng& rng, Scratch& s,
                              Decision* decision) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const int32_t n = static_cast<int32_t>(input.actions.size());
    const int64_t d = dim_;
    const double* x = input.context.data();
    // The context scaled by 2^ex so that max |x| is in [0.5, 1), as floats,
    // then their products x_r x_c (r <= c) in the coefficients' order.
    double largest = 0;
    for (int64_t i = 0; i < d; ++i) {
      const double a = std::abs(x[i]);
      if (!(a <= std::numeric_limits<double>::max())) return false;  // inf or NaN
      largest = a > largest ? a : largest;
    }
    int ex = 0;
    if (largest > 0) {
      std::frexp(largest, &ex);
      ex = -ex;
    }
    if (ex < -500 || ex > 500) return false;
    const double xscale = Pow2(ex);
    s.xx.resize(layout_.theta_len + layout_.length);
    float* xs = s.xx.data();
    for (int64_t i = 0; i < d; ++i) xs[i] = static_cast<float>(x[i] * xscale);
    std::fill(xs + d, xs + layout_.theta_len, 0.0f);
    ScreenProducts(xs, d, layout_.theta_len, layout_.length);
    const double xabs = largest * xscale;  // exact
    const double x2max = xabs * xabs;
    const int64_t nb = (d + 7) / 8;
    s.xpad.resize(static_cast<size_t>(nb * 8));
    std::copy(x, x + d, s.xpad.begin());
    std::fill(s.xpad.begin() + d, s.xpad.end(), 0.0);

    // Arms (unseen ones: mean 0 and the prior variance, exactly).
    std::vector<double>& pmf = decision->pmf;  // the scores until GreedyPmf
    pmf.resize(n);
    s.arm.resize(n);
    s.exact.assign(n, 0);
    s.means.resize(n);
    s.vars.resize(n);
    bool unseen = false;
    double prior_var = 0;
    const ActionInput* actions = input.actions.data();
    for (int32_t i = 0; i < n; ++i) {
      if (i + 8 < n) __builtin_prefetch(&actions[i + 8]);
      auto it = by_id_.find(actions[i].id);
      if (it != by_id_.end()) {
        s.arm[i] = it->second;
        continue;
      }
      if (!unseen) prior_var = Dot(x, x, d) / params_.lambda;
      unseen = true;
      s.arm[i] = -1;
      s.exact[i] = 1;
      s.means[i] = 0.0;
      s.vars[i] = prior_var;
    }
    // Float estimates of the means and variances, turned into upper bounds
    // of what Dot and QuadFormPacked compute (exact values for arms whose
    // scale is out of range, where a double sum could overflow).
    const double* records = screen_records_.data();
    ScreenForms(records, layout_.stride, s.arm.data(), n, xs, layout_.theta_len, layout_.length,
                s.means.data(), s.vars.data());
    auto exact = [&](int32_t i) {
      const Model& m = arms_[s.arm[i]];
      s.means[i] = Dot(m.theta.data(), x, d);
      s.vars[i] = ExactVar(m, s.xpad.data(), nb);
      s.exact[i] = 1;
    };
    for (int32_t i = 0; i < n; ++i) {
      if (s.arm[i] < 0) continue;
      const double* header = records + s.arm[i] * layout_.stride;
      const double tq = header[0], tm = header[2];
      const int shift_q = -(static_cast<int>(header[1]) + 2 * ex);
      const int shift_m = -(static_cast<int>(header[3]) + ex);
      if (!(tq >= 0) || shift_q < -1000 || shift_q > 1000 || shift_m < -1000 || shift_m > 1000 ||
          !(tq * x2max * Pow2(shift_q) < 1e300) || !(tm * xabs * Pow2(shift_m) < 1e300)) {
        exact(i);
        continue;
      }
      s.means[i] = (s.means[i] + (layout_.gamma_m * tm * xabs + layout_.tiny)) * Pow2(shift_m) +
                   0x1p-1000;
      s.vars[i] = (s.vars[i] + (layout_.gamma_q * tq * x2max + layout_.tiny)) * Pow2(shift_q) +
                  0x1p-1000;
    }
    // Scores: exact, or upper bounds (UcbScores is non-decreasing in mean and
    // variance); a NaN bound (0 * inf) counts as +inf.
    UcbScores(s.means.data(), s.vars.data(), params_.alpha, n, pmf.data());
    int32_t top = 0;
    for (int32_t i = 0; i < n; ++i) {
      if (!s.exact[i] && std::isnan(pmf[i])) pmf[i] = std::numeric_limits<double>::infinity();
      if (pmf[i] > pmf[top]) top = i;
    }
    auto make_exact = [&](int32_t i) {
      exact(i);
      UcbScores(&s.means[i], &s.vars[i], params_.alpha, 1, &pmf[i]);
    };
    // The exact score of the action with the largest bound is a threshold:
    // an action whose bound is below it scores below the maximum.
    if (!s.exact[top]) make_exact(top);
    const double threshold = pmf[top];
    if (std::isnan(threshold)) return false;
    for (int32_t i = 0; i < n; ++i) {
      if (!s.exact[i]) {
        if (!(pmf[i] >= threshold)) {
          pmf[i] = -std::numeric_limits<double>::infinity();
          continue;
        }
        make_exact(i);
      }
      if (std::isnan(pmf[i])) return false;
    }
    GreedyPmf(pmf, absl::MakeSpan(pmf));
    ApplyExplorationFloor(options_.exploration_floor, absl::MakeSpan(pmf));
    decision->chosen = SampleFromPmf(pmf, rng);
    return true;
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
  // Disjoint LinUCB with 0 < dim <= kMaxScreenDim: Choose screens actions.
  const bool screen_;
  const ScreenLayout layout_;
  mutable absl::Mutex mu_;
  int32_t dim_ ABSL_GUARDED_BY(mu_) = -1;  // -1: shared, not yet fixed
  std::vector<Model> arms_ ABSL_GUARDED_BY(mu_);  // disjoint, first-seen order
  IdMap by_id_ ABSL_GUARDED_BY(mu_);
  Model shared_ ABSL_GUARDED_BY(mu_);
  // Screen records of arms_ (same order; ScreenLayout), when screen_.
  std::vector<double, CacheLineAllocator<double>> screen_records_ ABSL_GUARDED_BY(mu_);
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

bool SetLinUcbScreeningForTesting(bool enabled) { return g_screening.exchange(enabled); }

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
