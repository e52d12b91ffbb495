// Exact Thompson win probabilities by adaptive Gauss-Legendre quadrature
// (see thompson_pmf.h).
#include "bandits/thompson_pmf.h"

#include <math.h>  // lgamma_r: std::lgamma writes the global signgam

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace recbandit::bandits {
namespace {

constexpr int kNodes = 8;          // Gauss-Legendre nodes per panel
constexpr double kTailLog = 36;    // an arm's range: log density >= its peak's - 36
constexpr double kPanelSds = 2;    // widest base panel, in sds of the narrowest arm there
// A panel is halved while |probability it adds - growth of prod_j F_j across
// it| exceeds this (plus rounding allowance per arm).
constexpr double kPanelTolerance = 1e-12;
constexpr int kMaxDepth = 40;               // halvings of one base panel
constexpr int64_t kMaxPanels = int64_t{1} << 15;  // per call, base and halved
// alpha + beta above this: log densities relative to the arm's mean, so that
// (alpha - 1) log x does not cancel catastrophically against the constant.
constexpr double kPreciseBetaSum = 1e6;
// At a singular end (alpha < 1 at 0, beta < 1 at 1) panels grow geometrically
// from this fraction of the arm's panel width.
constexpr double kGradeStart = 1e-30;

// Gauss-Legendre rule on [0, 1] (nodes ascending) with its integration
// matrix, transposed: s[r][q] = integral from 0 to x[q] of the r-th Lagrange
// basis polynomial on the nodes, so sum_r s[r][q] f(x[r]) integrates the
// interpolant of f from 0 to x[q].
struct Rule {
  double x[kNodes];
  double w[kNodes];
  double s[kNodes][kNodes];
};

Rule MakeRule() {
  Rule rule;
  for (int i = 0; i < kNodes; ++i) {
    // Root i of P_n on [-1, 1], largest first, by Newton from Tricomi's guess.
    double z = std::cos(M_PI * (i + 0.75) / (kNodes + 0.5));
    double dp = 1;
    for (int iter = 0; iter < 100; ++iter) {
      double p0 = 1, p1 = z;
      for (int k = 2; k <= kNodes; ++k) {
        const double p2 = ((2 * k - 1) * z * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = kNodes * (z * p1 - p0) / (z * z - 1);
      const double dz = p1 / dp;
      z -= dz;
      if (std::abs(dz) < 1e-16) break;
    }
    rule.x[i] = 0.5 * (1 - z);
    rule.w[i] = 1.0 / ((1 - z * z) * dp * dp);  // 2 / ((1 - z^2) P_n'(z)^2), halved
  }
  for (int q = 0; q < kNodes; ++q) {
    for (int r = 0; r < kNodes; ++r) {
      // The basis polynomial has degree n - 1: the rule on [0, x[q]] is exact.
      double sum = 0;
      for (int k = 0; k < kNodes; ++k) {
        const double y = rule.x[q] * rule.x[k];
        double l = 1;
        for (int m = 0; m < kNodes; ++m) {
          if (m != r) l *= (y - rule.x[m]) / (rule.x[r] - rule.x[m]);
        }
        sum += rule.w[k] * l;
      }
      rule.s[r][q] = rule.x[q] * sum;
    }
  }
  return rule;
}

const Rule& GetRule() {
  static const Rule rule = MakeRule();
  return rule;
}

enum class Kind : uint8_t {
  kNormal,       // log f = c - ((x - p) q)^2 / 2
  kBetaShared,   // log f = c + am1 log x + bm1 log(1 - x)
  kBetaPrecise,  // log f = c + am1 log(1 + (x - p) q) + bm1 log(1 - (x - p) r)
};

// One arm's density on its range [lo, hi]. The constant c need not be exact:
// an arm's constant factor multiplies every win probability alike and
// cancels in the final normalisation.
struct Arm {
  int32_t index = 0;  // position in the caller's arrays
  Kind kind = Kind::kNormal;
  bool grade_lo = false;  // density singular at lo = 0 (alpha < 1)
  bool grade_hi = false;  // density singular at hi = 1 (beta < 1)
  double lo = 0, hi = 0;
  double width = 0;  // widest panel while the arm is present
  double c = 0, am1 = 0, bm1 = 0, p = 0, q = 0, r = 0;
};

// Writes arm a's density at the panel's nodes x (lx = log x, l1x = log(1 - x),
// read only by kBetaShared) into f.
inline void Densities(const Arm& a, const double* x, const double* lx, const double* l1x,
                      double* f) {
  double v[kNodes] = {};
  switch (a.kind) {
    case Kind::kNormal:
      for (int k = 0; k < kNodes; ++k) {
        const double z = (x[k] - a.p) * a.q;
        v[k] = a.c - 0.5 * z * z;
      }
      break;
    case Kind::kBetaShared:
      for (int k = 0; k < kNodes; ++k) v[k] = a.c;
      if (a.am1 != 0) {
        for (int k = 0; k < kNodes; ++k) v[k] += a.am1 * lx[k];
      }
      if (a.bm1 != 0) {
        for (int k = 0; k < kNodes; ++k) v[k] += a.bm1 * l1x[k];
      }
      break;
    case Kind::kBetaPrecise:
      for (int k = 0; k < kNodes; ++k) {
        const double u = x[k] - a.p;
        v[k] = a.c;
        if (a.am1 != 0) v[k] += a.am1 * std::log1p(u * a.q);
        if (a.bm1 != 0) v[k] += a.bm1 * std::log1p(-u * a.r);
      }
      break;
  }
  // NaN or +inf (a singular end point) count as 0: a set of measure zero.
  for (int k = 0; k < kNodes; ++k) f[k] = v[k] < 700 ? std::exp(v[k]) : 0.0;
}

double LogGamma(double x) {
  int sign = 0;
  return lgamma_r(x, &sign);
}

// Log density of Beta(a, b) at x minus its value at xr (terms with a zero
// coefficient omitted, so xr may be 0 or 1 when that term vanishes).
double BetaRelativeLog(double am1, double bm1, double xr, double x) {
  double v = 0;
  if (am1 != 0) v += am1 * std::log(x / xr);
  if (bm1 != 0) v += bm1 * std::log1p(-(x - xr) / (1 - xr));
  return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
}

// Returns the point between xr and `edge` (0 or 1) where the Beta log density
// has fallen kTailLog below its value at xr, or slightly beyond it (never
// inside); `edge` when it does not fall that far. `sd` sets the first step.
double BetaTail(double am1, double bm1, double xr, double edge, double sd) {
  const double dir = edge > xr ? 1.0 : -1.0;
  auto g = [&](double x) { return BetaRelativeLog(am1, bm1, xr, x) + kTailLog; };
  auto beyond = [&](double x) { return dir > 0 ? x >= edge : x <= edge; };
  // Bracket: inner has g >= 0, outer has g < 0 (or is the edge).
  double inner = xr;
  double outer = edge;
  double step = std::sqrt(2 * kTailLog) * sd;
  for (int i = 0; i < 60; ++i) {
    const double x = xr + dir * step;
    if (beyond(x)) break;
    if (g(x) < 0) {
      outer = x;
      // The first probe (8.5 sd, the Normal's answer) is close enough.
      if (i == 0) return outer;
      break;
    }
    inner = x;
    step *= 2;
  }
  // Safeguarded Newton from the outside (g is concave for alpha, beta >= 1,
  // so Newton from outside stays outside); bisection otherwise.
  for (int iter = 0; iter < 60; ++iter) {
    double x;
    const double go = beyond(outer) ? -std::numeric_limits<double>::infinity() : g(outer);
    const double slope = am1 / outer - bm1 / (1 - outer);
    if (std::isfinite(go) && std::isfinite(slope) && slope != 0) {
      x = outer - go / slope;
    } else {
      x = 0.5 * (inner + outer);
    }
    if (!((x - inner) * dir > 0 && (outer - x) * dir > 0)) x = 0.5 * (inner + outer);
    if (!((x - inner) * dir > 0 && (outer - x) * dir > 0)) break;  // no room left
    const bool done = std::abs(x - outer) < 0.02 * sd;
    if (g(x) < 0) {
      outer = x;
    } else {
      inner = x;
    }
    if (done) break;
  }
  return outer;
}

// Fills *arm's density and range for Beta(a, b); false if it has no width.
bool MakeBetaArm(double a, double b, Arm* arm) {
  const double n = a + b;
  const double mean = a / n;
  const double sd = std::sqrt(a * b / (n * n * (n + 1)));
  if (!(sd > 0) || !std::isfinite(sd)) return false;
  arm->am1 = a - 1;
  arm->bm1 = b - 1;
  arm->width = kPanelSds * sd;
  const double lbeta = LogGamma(a) + LogGamma(b) - LogGamma(n);
  if (n <= kPreciseBetaSum) {
    arm->kind = Kind::kBetaShared;
    arm->c = -lbeta;
  } else {
    arm->kind = Kind::kBetaPrecise;
    arm->p = mean;
    arm->q = 1 / mean;
    arm->r = 1 / (1 - mean);
    arm->c = (a - 1) * std::log(mean) + (b - 1) * std::log1p(-mean) - lbeta;
  }
  // Range: where the density is within kTailLog of its value at the mode
  // (the mean when the log density is not concave).
  const bool concave = a >= 1 && b >= 1;
  const double xr = concave && n > 2 ? (a - 1) / (n - 2) : mean;
  arm->lo = a <= 1 ? 0.0 : BetaTail(arm->am1, arm->bm1, xr, 0.0, sd);
  arm->hi = b <= 1 ? 1.0 : BetaTail(arm->am1, arm->bm1, xr, 1.0, sd);
  if (xr <= 0) arm->lo = 0;
  if (xr >= 1) arm->hi = 1;
  arm->grade_lo = a < 1;
  arm->grade_hi = b < 1;
  return arm->hi > arm->lo;
}

bool MakeNormalArm(double mean, double sd, Arm* arm) {
  if (!(sd > 0) || !std::isfinite(sd) || !std::isfinite(mean)) return false;
  arm->kind = Kind::kNormal;
  arm->p = mean;
  arm->q = 1 / sd;
  arm->c = -std::log(sd) - 0.5 * std::log(2 * M_PI);
  const double half = std::sqrt(2 * kTailLog) * sd;
  arm->lo = mean - half;
  arm->hi = mean + half;
  arm->width = kPanelSds * sd;
  return std::isfinite(arm->lo) && std::isfinite(arm->hi) && arm->hi > arm->lo;
}

// Per-thread buffers; arrays indexed by relevant arm (f and F by arm * kNodes
// + node).
struct Scratch {
  std::vector<Arm> all;
  std::vector<Arm> arms;
  std::vector<double> f, F;
  std::vector<double> f0, f1;  // F at the current panel's start and end
  std::vector<double> added;   // probability the current panel adds, per arm
  std::vector<double> total;   // accepted win probability, per arm
  std::vector<double> prefix;
  std::vector<int32_t> active;  // arms present in the current panel
  int64_t panels = 0;
};

Scratch& GetScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Evaluates every arm on [t0, t1]: fills active, f, F, f1 and added.
// Returns |sum of added - (prod_j f1_j - prod_j f0_j)|, the panel's error
// indicator (0 while some arm has not started: nothing can win there).
double EvaluatePanel(Scratch& s, const Rule& rule, double t0, double t1) {
  const int n = static_cast<int>(s.arms.size());
  const double h = t1 - t0;
  double x[kNodes], lx[kNodes], l1x[kNodes];
  for (int k = 0; k < kNodes; ++k) x[k] = t0 + h * rule.x[k];
  bool logs = false;
  bool all_started = true;
  double after = 1;  // prod of F_j over the arms whose range has ended
  s.active.clear();
  for (int j = 0; j < n; ++j) {
    const Arm& a = s.arms[j];
    s.f1[j] = s.f0[j];
    if (t1 <= a.lo) {  // not started: F_j = 0
      all_started = false;
    } else if (t0 >= a.hi) {  // ended: F_j constant
      after *= s.f0[j];
    } else {
      s.active.push_back(j);
      if (a.kind == Kind::kBetaShared && !logs) {
        for (int k = 0; k < kNodes; ++k) {
          lx[k] = std::log(x[k]);
          l1x[k] = std::log1p(-x[k]);
        }
        logs = true;
      }
    }
  }
  for (int j : s.active) {
    double* fj = &s.f[static_cast<size_t>(j) * kNodes];
    Densities(s.arms[j], x, lx, l1x, fj);
    double mass = 0;
    for (int k = 0; k < kNodes; ++k) mass += rule.w[k] * fj[k];
    s.f1[j] = s.f0[j] + h * mass;
  }
  for (int j : s.active) s.added[j] = 0;
  if (!all_started) return 0.0;
  // F_j at the nodes: the integral of f_j's interpolant from t0.
  for (int j : s.active) {
    const double* fj = &s.f[static_cast<size_t>(j) * kNodes];
    double* cj = &s.F[static_cast<size_t>(j) * kNodes];
    double acc[kNodes] = {};
    for (int r = 0; r < kNodes; ++r) {
      for (int k = 0; k < kNodes; ++k) acc[k] += rule.s[r][k] * fj[r];
    }
    for (int k = 0; k < kNodes; ++k) cj[k] = std::max(0.0, s.f0[j] + h * acc[k]);
  }
  // Win probability added: hw f_i prod_{j != i} F_j at each node, the
  // product over the other present arms by prefix and suffix products.
  const int m = static_cast<int>(s.active.size());
  double sum = 0;
  for (int k = 0; k < kNodes; ++k) {
    s.prefix[0] = 1;
    for (int i = 0; i < m; ++i) {
      s.prefix[i + 1] = s.prefix[i] * s.F[static_cast<size_t>(s.active[i]) * kNodes + k];
    }
    // (hw f_i) prefix suffix in this order: identical arms get identical bits.
    const double hw = h * rule.w[k] * after;
    double suffix = 1;
    for (int i = m - 1; i >= 0; --i) {
      const size_t at = static_cast<size_t>(s.active[i]) * kNodes + k;
      const double add = hw * s.f[at] * s.prefix[i] * suffix;
      s.added[s.active[i]] += add;
      sum += add;
      suffix *= s.F[at];
    }
  }
  double before = after, end = after;
  for (int j : s.active) {
    before *= s.f0[j];
    end *= s.f1[j];
  }
  return std::abs(sum - (end - before));
}

// Integrates [t0, t1], halving while the error indicator is too large, and
// commits the result (win probabilities and F at t1).
void IntegratePanel(Scratch& s, const Rule& rule, double t0, double t1, int depth) {
  ++s.panels;
  const double error = EvaluatePanel(s, rule, t0, t1);
  const double tolerance = kPanelTolerance + 1e-15 * static_cast<double>(s.arms.size());
  const double mid = 0.5 * (t0 + t1);
  if (error > tolerance && depth < kMaxDepth && s.panels < kMaxPanels && mid > t0 &&
      mid < t1) {
    IntegratePanel(s, rule, t0, mid, depth + 1);
    IntegratePanel(s, rule, mid, t1, depth + 1);
    return;
  }
  for (int j : s.active) {
    s.total[j] += s.added[j];
    s.f0[j] = s.f1[j];
  }
}

// Uniform over the arms with the largest finite mean (all arms if none).
void FallbackPmf(absl::Span<const double> means, absl::Span<double> pmf) {
  double best = -std::numeric_limits<double>::infinity();
  for (double m : means) {
    if (std::isfinite(m)) best = std::max(best, m);
  }
  int64_t ties = 0;
  for (double m : means) ties += m == best;
  if (ties == 0) {
    std::fill(pmf.begin(), pmf.end(), 1.0 / static_cast<double>(pmf.size()));
    return;
  }
  for (size_t i = 0; i < pmf.size(); ++i) {
    pmf[i] = means[i] == best ? 1.0 / static_cast<double>(ties) : 0.0;
  }
}

// The common part: s.all holds every arm (index = position); returns false
// when the quadrature could not produce a pmf.
bool WinPmf(Scratch& s, absl::Span<double> pmf) {
  const Rule& rule = GetRule();
  std::fill(pmf.begin(), pmf.end(), 0.0);
  // Arms whose range ends below the highest range start never win (their
  // probability is below the tail mass left out).
  double start = -std::numeric_limits<double>::infinity();
  for (const Arm& a : s.all) start = std::max(start, a.lo);
  s.arms.clear();
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (const Arm& a : s.all) {
    if (a.hi > start) {
      s.arms.push_back(a);
      lo = std::min(lo, a.lo);
      hi = std::max(hi, a.hi);
    }
  }
  const size_t n = s.arms.size();
  if (n == 0) return false;
  if (n == 1) {
    pmf[s.arms[0].index] = 1.0;
    return true;
  }
  s.f.resize(n * kNodes);
  s.F.resize(n * kNodes);
  s.f0.assign(n, 0.0);
  s.f1.assign(n, 0.0);
  s.added.assign(n, 0.0);
  s.total.assign(n, 0.0);
  s.prefix.resize(n + 1);
  s.panels = 0;
  // Base panels: no wider than any present arm's width, cut at an arm's
  // range start, graded toward singular ends. The ranges all contain `start`,
  // so every point of [lo, hi] has an arm present.
  double x = lo;
  while (x < hi) {
    double h = hi - x;
    for (const Arm& a : s.arms) {
      if (a.hi <= x) continue;
      double bound = a.lo <= x ? a.width : std::max(a.lo - x, a.width);
      if (a.grade_lo) bound = std::min(bound, std::max(x, kGradeStart * a.width));
      if (a.grade_hi) bound = std::min(bound, std::max(0.5 * (1 - x), 1e-15));
      h = std::min(h, bound);
    }
    double next = x + h;
    if (next > hi || s.panels >= kMaxPanels) next = hi;  // budget spent: one last panel
    if (!(next > x)) next = std::nextafter(x, hi);
    IntegratePanel(s, rule, x, next, 0);
    x = next;
  }
  double sum = 0;
  for (size_t j = 0; j < n; ++j) sum += s.total[j];
  if (!(sum > 0) || !std::isfinite(sum)) return false;
  for (size_t j = 0; j < n; ++j) pmf[s.arms[j].index] = s.total[j] / sum;
  return true;
}

}  // namespace

void BetaWinPmf(absl::Span<const double> alpha, absl::Span<const double> beta,
                absl::Span<double> pmf) {
  const size_t n = pmf.size();
  Scratch& s = GetScratch();
  s.all.resize(n);
  bool ok = alpha.size() == n && beta.size() == n && n > 0;
  for (size_t i = 0; ok && i < n; ++i) {
    const double a = alpha[i], b = beta[i];
    s.all[i].index = static_cast<int32_t>(i);
    ok = a > 0 && b > 0 && std::isfinite(a) && std::isfinite(b) &&
         MakeBetaArm(a, b, &s.all[i]);
  }
  if (n == 1) {
    pmf[0] = 1.0;
    return;
  }
  if (ok && WinPmf(s, pmf)) return;
  std::vector<double>& means = s.f;  // free until the next call
  means.resize(n);
  for (size_t i = 0; i < n; ++i) {
    means[i] = i < alpha.size() && i < beta.size() ? alpha[i] / (alpha[i] + beta[i])
                                                   : std::nan("");
  }
  FallbackPmf(means, pmf);
}

void NormalWinPmf(absl::Span<const double> mean, absl::Span<const double> sd,
                  absl::Span<double> pmf) {
  const size_t n = pmf.size();
  Scratch& s = GetScratch();
  s.all.resize(n);
  bool ok = mean.size() == n && sd.size() == n && n > 0;
  for (size_t i = 0; ok && i < n; ++i) {
    s.all[i].index = static_cast<int32_t>(i);
    ok = MakeNormalArm(mean[i], sd[i], &s.all[i]);
  }
  if (n == 1) {
    pmf[0] = 1.0;
    return;
  }
  if (ok && WinPmf(s, pmf)) return;
  std::vector<double>& means = s.f;
  means.assign(n, std::nan(""));
  for (size_t i = 0; i < n && i < mean.size(); ++i) means[i] = mean[i];
  FallbackPmf(means, pmf);
}

}  // namespace recbandit::bandits
