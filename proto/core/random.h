// Seeded random numbers with a fixed, documented algorithm (splitmix64 to seed
// xoshiro256**; ziggurat normals, Marsaglia-Tsang gammas), so a logged draw
// replays identically on any library version.
#ifndef RECBANDIT_PROTO_CORE_RANDOM_H_
#define RECBANDIT_PROTO_CORE_RANDOM_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace recbandit {
namespace internal {

// The ziggurat Rng::Normal draws from: 256 layers of equal area v under
// f(x) = exp(-x^2 / 2), x >= 0 (layer 0 is the base strip plus the tail
// beyond r). Tables in random.cc.
struct NormalZiggurat {
  double x[257];    // layer i spans [0, x[i]]; x[1] = r, x[256] = 0
  double f[257];    // f(x[i])
  uint64_t k[256];  // a 52-bit j < k[i] puts x = j w[i] under the curve
  double w[256];    // x[i] / 2^52
  double r;         // where the tail starts
  double inv_r;     // 1 / r
};
extern const NormalZiggurat kNormalZiggurat;

}  // namespace internal

// Returns the splitmix64 output for `x` (a bijective 64-bit mixer).
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Returns a stable 64-bit hash of `s` (FNV-1a, then Mix64). Never changes
// between releases: event seeds, variant assignment and feature hashing use it.
inline uint64_t StableHash64(std::string_view s, uint64_t salt = 0) {
  uint64_t h = 0xcbf29ce484222325ULL ^ Mix64(salt);
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

// The constants Rng::Gamma derives from a shape, computed once (a square
// root and divisions) for callers that draw with one shape many times, e.g.
// Thompson sampling's posteriors. Thread-compatible (a value).
class GammaShape {
 public:
  GammaShape() : GammaShape(1.0) {}
  // REQUIRES: shape > 0.
  explicit GammaShape(double shape) {
    const double s = shape < 1.0 ? shape + 1.0 : shape;
    inv_shape_ = shape < 1.0 ? 1.0 / shape : 0.0;
    d_ = s - 1.0 / 3.0;
    c_ = 1.0 / std::sqrt(9.0 * d_);
    k4_ = 0.75 * d_ * (c_ * c_) * (c_ * c_);  // d (3/4) c^4
    k5_ = 1.6 * c_ * k4_;                       // d (6/5) c^5
  }
 private:
  friend class Rng;
  double inv_shape_;  // 1 / shape when shape < 1 (the boost), else 0
  double d_, c_;      // Marsaglia and Tsang's d = shape - 1/3, c = 1 / sqrt(9 d)
  double k4_, k5_;    // the squeeze's coefficients
};

// xoshiro256** generator seeded through splitmix64. Satisfies
// UniformRandomBitGenerator. Not thread-safe: one per thread or per draw.
class Rng {
 public:
  using result_type = uint64_t;
  explicit Rng(uint64_t seed = 0) { Seed(seed); }

  void Seed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& s : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }

  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~uint64_t{0}; }

  uint64_t operator()() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Returns a double uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  // Returns an integer uniform in [0, n). REQUIRES: n > 0. (Lemire's method.)
  uint64_t UniformInt(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>((*this)()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = -n % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>((*this)()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Returns a standard normal draw: the 256-layer ziggurat of Marsaglia and
  // Tsang (2000), an exact method. One 64-bit draw (bits 0-7 the layer, bit 8
  // the sign, bits 12-63 the abscissa) is accepted at once about 99% of the
  // time; otherwise NormalEdge tests the wedge (one exp) or draws the tail
  // beyond r = 3.654 (Marsaglia's exponential method) and may start over.
  double Normal() {
    const internal::NormalZiggurat& z = internal::kNormalZiggurat;
    for (;;) {
      const uint64_t bits = (*this)();
      const int layer = static_cast<int>(bits & 0xff);
      const uint64_t j = bits >> 12;
      // (Signed conversion: one instruction; without a branch on the sign.)
      const double x = static_cast<double>(static_cast<int64_t>(j)) * z.w[layer];
      const uint64_t sign = (bits & 0x100) << 55;
      if (j < z.k[layer]) return WithSign(x, sign);
      double edge;
      if (NormalEdge(layer, x, &edge)) return WithSign(edge, sign);
    }
  }

  // Returns a Gamma(shape, 1) draw: Marsaglia and Tsang (2000), one Normal x
  // and one Uniform u per try, accepted iff log(u) < g(x) = x^2 / 2 + d (1 -
  // v + log v). Squeezes decide most tries without a log, and the same tries
  // as the log test would (u < s(x) with s <= exp(g), tested): with t = c x,
  // g = d h(t), h(t) = 3 (log(1 + t) - t + t^2/2 - t^3/3) >= -3 t^4 / 4 for t
  // >= 0 and >= -3 t^4 / 4 - 6 |t|^5 / 5 for t in [-1/2, 0), and 1 + y <=
  // exp(y); else their 1 - 0.0331 x^4. Shape < 1 boosts Gamma(shape + 1) by
  // U^(1 / shape). REQUIRES: shape > 0.
  double Gamma(double shape) { return Gamma(GammaShape(shape)); }

  // Returns a Gamma draw of the shape `shape` was made with, the same as
  // Gamma(double) on the same stream, without recomputing its constants.
  double Gamma(const GammaShape& shape) {
    if (shape.inv_shape_ > 0) {
      const double u = Uniform();
      return GammaAtLeastOne(shape) * std::pow(u > 0 ? u : 1e-300, shape.inv_shape_);
    }
    return GammaAtLeastOne(shape);
  }

  // Returns a Beta(a, b) draw. REQUIRES: a > 0, b > 0.
  double Beta(double a, double b) { return Beta(GammaShape(a), GammaShape(b)); }

  // Returns a Beta draw of the shapes `a` and `b` were made with, the same as
  // Beta(double, double) on the same stream.
  double Beta(const GammaShape& a, const GammaShape& b) {
    const double x = Gamma(a);
    const double y = Gamma(b);
    return x / (x + y);
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  // Returns x >= 0 with its sign bit xor-ed with `sign` (0 or 1 << 63).
  static double WithSign(double x, uint64_t sign) {
    uint64_t u;
    std::memcpy(&u, &x, sizeof u);
    u ^= sign;
    std::memcpy(&x, &u, sizeof u);
    return x;
  }
  // Gamma's draw for a shape >= 1 (for shape < 1, of shape + 1).
  double GammaAtLeastOne(const GammaShape& p) {
    const double d = p.d_, c = p.c_, k4 = p.k4_, k5 = p.k5_;
    for (;;) {
      double x, v;
      do {
        x = Normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      const double x4 = (x * x) * (x * x);
      // (min, not a branch on the sign of x: that one is unpredictable.)
      const double squeeze =
          v >= 0.5 ? 1.0 - k4 * x4 + k5 * x4 * std::min(x, 0.0) : 1.0 - 0.0331 * x4;
      v = v * v * v;
      const double u = Uniform();
      if (u < squeeze) return d * v;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
  }

  // Normal's slow path for an abscissa x in `layer` that lies beyond the
  // layer above: sets *out (>= 0) and returns true when the draw is accepted.
  bool NormalEdge(int layer, double x, double* out);

  uint64_t s_[4];
};

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_RANDOM_H_
