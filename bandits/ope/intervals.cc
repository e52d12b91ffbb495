// The incomplete beta function by its continued fraction (modified Lentz), the
// beta quantile by Newton's method kept inside a shrinking bracket, and the
// Clopper-Pearson interval of bandits/ope/intervals.h.
#include "bandits/ope/intervals.h"

#include <math.h>  // lgamma_r

#include <algorithm>
#include <cmath>
#include <limits>

namespace recbandit::bandits {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// Returns log Gamma(x) for x > 0. glibc's lgamma_r does not write the global
// `signgam` that std::lgamma does, so concurrent calls do not race.
double LogGamma(double x) {
#if defined(__GLIBC__)
  int sign = 0;
  return lgamma_r(x, &sign);
#else
  return std::lgamma(x);
#endif
}

double LogBeta(double a, double b) { return LogGamma(a) + LogGamma(b) - LogGamma(a + b); }

// Returns the continued fraction 1 / (1 + d1 / (1 + d2 / (1 + ...))) of
// I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) * fraction, where
//   d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
//   d_{2m}   = m (b - m) x / ((a + 2m - 1)(a + 2m)).
// It converges fast for x < (a + 1) / (a + b + 2); evaluated as
// 1 + 1 / (1 + d1 / ...) by the modified Lentz method, minus the leading 1.
double BetaFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEpsilon = 1e-16;
  constexpr int kMaxTerms = 200000;  // about sqrt(max(a, b)) terms are needed
  double f = 1.0, c = 1.0, d = 0.0;
  for (int i = 0; i <= kMaxTerms; ++i) {
    double numerator;
    if (i == 0) {
      numerator = 1.0;
    } else if (i % 2 == 1) {
      const double m = (i - 1) / 2;
      numerator = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
    } else {
      const double m = i / 2;
      numerator = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    }
    d = 1.0 + numerator * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    d = 1.0 / d;
    c = 1.0 + numerator / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    const double step = c * d;
    f *= step;
    if (std::fabs(1.0 - step) < kEpsilon) break;
  }
  return f - 1.0;
}

// I_x(a, b) for 0 < x < 1, given log B(a, b).
double IncompleteBetaInside(double a, double b, double x, double log_beta) {
  const double log_front = a * std::log(x) + b * std::log1p(-x) - log_beta;
  if (x < (a + 1) / (a + b + 2)) {
    return std::exp(log_front) * BetaFraction(a, b, x) / a;
  }
  // Symmetry I_x(a, b) = 1 - I_{1-x}(b, a) keeps the fraction in its fast range.
  return 1.0 - std::exp(log_front) * BetaFraction(b, a, 1.0 - x) / b;
}

}  // namespace

double RegularizedIncompleteBeta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1) || std::isinf(a) || std::isinf(b)) {
    return kNan;
  }
  if (x == 0) return 0.0;
  if (x == 1) return 1.0;
  return std::clamp(IncompleteBetaInside(a, b, x, LogBeta(a, b)), 0.0, 1.0);
}

double BetaQuantile(double a, double b, double p) {
  if (!(a > 0) || !(b > 0) || !(p >= 0) || !(p <= 1) || std::isinf(a) || std::isinf(b)) {
    return kNan;
  }
  if (p == 0) return 0.0;
  if (p == 1) return 1.0;
  const double log_beta = LogBeta(a, b);
  // The root stays inside [lo, hi]; a Newton step that leaves the bracket is
  // replaced by bisection, so the iteration always converges. It ends when a
  // Newton step rounds to nothing or no double lies between lo and hi (then
  // the end with the smaller |I - p| is returned).
  double lo = 0.0, hi = 1.0, f_lo = -p, f_hi = 1.0 - p;
  double x = a / (a + b);
  for (int iteration = 0; iteration < 4000; ++iteration) {
    const double f = IncompleteBetaInside(a, b, x, log_beta) - p;
    if (f == 0) return x;
    if (f < 0) {
      lo = x;
      f_lo = f;
    } else {
      hi = x;
      f_hi = f;
    }
    if (std::nextafter(lo, 1.0) >= hi) return -f_lo <= f_hi ? lo : hi;
    const double log_density = (a - 1) * std::log(x) + (b - 1) * std::log1p(-x) - log_beta;
    double next = x - f / std::exp(log_density);
    if (next == x) return x;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);  // also when NaN
    x = next;
  }
  return x;
}

Interval ClopperPearson(double successes, double trials, double confidence) {
  if (!(confidence > 0 && confidence < 1)) return {kNan, kNan};
  if (!(trials > 0) || std::isnan(successes) || std::isinf(trials)) return {0.0, 1.0};
  const double n = trials;
  const double x = std::clamp(successes, 0.0, n);
  const double half_alpha = 0.5 * (1.0 - confidence);
  // (alpha/2)^(1/n) and 1 - (alpha/2)^(1/n), the closed forms at x = n and x = 0.
  const double log_root = std::log(half_alpha) / n;
  Interval out;
  if (x <= 0) {
    out.low = 0.0;
    out.high = -std::expm1(log_root);
  } else if (x >= n) {
    out.low = std::exp(log_root);
    out.high = 1.0;
  } else {
    out.low = BetaQuantile(x, n - x + 1, half_alpha);
    out.high = BetaQuantile(x + 1, n - x, 1.0 - half_alpha);
  }
  return out;
}

Interval KornGraubard(double estimate, double std_error, double fallback_n, double max_n,
                      double confidence) {
  const double p = std::clamp(estimate, 0.0, 1.0);
  double n = fallback_n;
  if (p > 0 && p < 1 && std_error > 0 && std::isfinite(std_error)) {
    n = std::min(max_n, p * (1 - p) / (std_error * std_error));
  }
  return ClopperPearson(p * n, n, confidence);
}

}  // namespace recbandit::bandits
