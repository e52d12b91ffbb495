// Tests for the common core in proto/: random numbers, hashing, file helpers,
// CRC-32C, JSON output and the progress reporter.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <functional>
#include <numeric>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/line_reader.h"
#include "proto/core/progress.h"
#include "proto/core/random.h"
#include "proto/model.pb.h"
#include "proto/reports.pb.h"
#include "proto/core/status_macros.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::recbandit::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(RngTest, FixedSeedGivesAFixedStream) {
  // The generator is part of the log format (replayable draws): pin it.
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a(), b());
  Rng c(0);
  EXPECT_EQ(c(), 0x99ec5f36cb75f2b4ULL);  // xoshiro256** after splitmix64(0)
  EXPECT_EQ(StableHash64("event-1"), StableHash64("event-1"));
  EXPECT_NE(StableHash64("event-1"), StableHash64("event-2"));
  EXPECT_NE(StableHash64("event-1", 1), StableHash64("event-1", 2));
}

TEST(RngTest, UniformIntIsUnbiased) {
  Rng rng(1);
  std::vector<int> counts(7, 0);
  const int n = 700000;
  for (int i = 0; i < n; ++i) ++counts[rng.UniformInt(7)];
  // Each count ~ Binomial(n, 1/7): sd ~ 293; allow 5 sd.
  for (int c : counts) EXPECT_NEAR(c, n / 7.0, 1500);
}

TEST(RngTest, DistributionMomentsMatch) {
  Rng rng(2);
  const int n = 200000;
  double s = 0, s2 = 0, g = 0, b = 0;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal();
    s += x;
    s2 += x * x;
    g += rng.Gamma(2.5);
    b += rng.Beta(2, 6);
  }
  // Standard errors: normal mean 0.0022, var ~0.0032; gamma mean sd/sqrt(n)=0.0035;
  // beta mean sd 0.00033. Tolerances are about 5 standard errors.
  EXPECT_NEAR(s / n, 0.0, 0.011);
  EXPECT_NEAR(s2 / n, 1.0, 0.016);
  EXPECT_NEAR(g / n, 2.5, 0.018);
  EXPECT_NEAR(b / n, 0.25, 0.0017);
  double small = 0;
  for (int i = 0; i < n; ++i) small += rng.Gamma(0.3);
  EXPECT_NEAR(small / n, 0.3, 0.006);
}

// Returns the Kolmogorov-Smirnov statistic sup |F_n - F| of `draws` (sorted
// here) against the distribution function `cdf`.
template <typename Cdf>
double KsStatistic(std::vector<double> draws, Cdf cdf) {
  std::sort(draws.begin(), draws.end());
  const double n = static_cast<double>(draws.size());
  double d = 0;
  for (size_t i = 0; i < draws.size(); ++i) {
    const double f = cdf(draws[i]);
    d = std::max({d, f - i / n, (i + 1) / n - f});
  }
  return d;
}

// The KS critical value at level 0.001 for n draws (asymptotic, 1.949 /
// sqrt(n)): an exact sampler at a fixed seed exceeds it with probability 0.001.
double KsCritical(size_t n) { return 1.949 / std::sqrt(static_cast<double>(n)); }

// Returns the regularized lower incomplete gamma function P(a, x), the
// Gamma(a, 1) distribution function, by its power series.
double GammaCdf(double a, double x) {
  if (x <= 0) return 0;
  double term = 1.0 / a, sum = term;
  for (int n = 1; n < 100000 && term > 1e-17 * sum; ++n) {
    term *= x / (a + n);
    sum += term;
  }
  return std::min(1.0, std::exp(-x + a * std::log(x) - std::lgamma(a)) * sum);
}

// Returns the Beta(a, b) distribution function for integers a, b >= 1:
// P(Binomial(a + b - 1, x) >= a).
double IntegerBetaCdf(int a, int b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const int n = a + b - 1;
  double p = 0;
  for (int j = a; j <= n; ++j) {
    p += std::exp(std::lgamma(n + 1.0) - std::lgamma(j + 1.0) - std::lgamma(n - j + 1.0) +
                  j * std::log(x) + (n - j) * std::log1p(-x));
  }
  return std::min(1.0, p);
}

// Mean, variance, skewness and excess kurtosis of `v`.
struct Moments {
  double mean = 0, var = 0, skew = 0, kurt = 0;
};
Moments MomentsOf(const std::vector<double>& v) {
  Moments m;
  const double n = static_cast<double>(v.size());
  for (double x : v) m.mean += x / n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (double x : v) {
    const double e = x - m.mean;
    m2 += e * e / n;
    m3 += e * e * e / n;
    m4 += e * e * e * e / n;
  }
  m.var = m2;
  m.skew = m3 / std::pow(m2, 1.5);
  m.kurt = m4 / (m2 * m2) - 3;
  return m;
}

TEST(RngTest, ZigguratLayersHaveEqualArea) {
  // Normal's exactness rests on its 256 layers under f(x) = exp(-x^2 / 2)
  // having one area v: layer 0 is [0, r] x [0, f(r)] plus the tail beyond r.
  const internal::NormalZiggurat& z = internal::kNormalZiggurat;
  const double r = z.r;
  const double v = r * std::exp(-0.5 * r * r) + std::sqrt(M_PI / 2) * std::erfc(r / std::sqrt(2.0));
  EXPECT_EQ(z.x[1], r);
  EXPECT_EQ(z.x[256], 0.0);
  EXPECT_EQ(z.f[256], 1.0);
  EXPECT_DOUBLE_EQ(z.inv_r, 1 / r);
  EXPECT_NEAR(z.x[0] * z.f[1], v, 1e-15);
  for (int i = 1; i < 256; ++i) {
    EXPECT_NEAR(z.f[i], std::exp(-0.5 * z.x[i] * z.x[i]), 1e-15) << i;
    EXPECT_NEAR(z.x[i] * (z.f[i + 1] - z.f[i]), v, 1e-14) << "layer " << i;
  }
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(z.w[i], std::ldexp(z.x[i], -52)) << i;
    // k[i] = floor(2^52 x[i + 1] / x[i]): j < k[i] means j w[i] < x[i + 1].
    const double k = std::floor(std::ldexp(z.x[i + 1] / z.x[i], 52));
    EXPECT_NEAR(static_cast<double>(z.k[i]), k, 1.0) << i;
    if (z.k[i] > 0) EXPECT_LE(static_cast<double>(z.k[i] - 1) * z.w[i], z.x[i + 1]) << i;
  }
}

TEST(RngTest, NormalMatchesTheStandardNormal) {
  Rng rng(11);
  const size_t n = 400000;
  std::vector<double> x(n);
  for (double& v : x) v = rng.Normal();
  // KS against Phi, critical value at level 0.001 (0.0031).
  EXPECT_LT(KsStatistic(x, [](double t) { return 0.5 * std::erfc(-t / std::sqrt(2.0)); }),
            KsCritical(n));
  // Moments; standard errors for n = 4e5: mean 0.0016, variance 0.0022,
  // skewness 0.0039, excess kurtosis 0.0077. Tolerances are 5 of them.
  const Moments m = MomentsOf(x);
  EXPECT_NEAR(m.mean, 0.0, 0.008);
  EXPECT_NEAR(m.var, 1.0, 0.011);
  EXPECT_NEAR(m.skew, 0.0, 0.02);
  EXPECT_NEAR(m.kurt, 0.0, 0.04);
  // The tail branch: P(|x| > r) = erfc(r / sqrt 2) = 2.58e-4, about 103 of
  // 4e5 draws (Poisson sd ~10; 5 sd), split evenly by sign.
  int above = 0, below = 0;
  const double r = internal::kNormalZiggurat.r;
  for (double v : x) {
    above += v > r;
    below += v < -r;
  }
  const double expected = n * std::erfc(r / std::sqrt(2.0));
  EXPECT_NEAR(above + below, expected, 5 * std::sqrt(expected));
  EXPECT_GT(above, 0);
  EXPECT_GT(below, 0);
}

// Marsaglia and Tsang's Gamma with the exact log test only (no squeeze),
// drawing from `rng` as Rng::Gamma does.
double GammaByLogTestOnly(Rng& rng, double shape) {
  if (shape < 1.0) {
    const double u = rng.Uniform();
    return GammaByLogTestOnly(rng, shape + 1.0) * std::pow(u > 0 ? u : 1e-300, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = rng.Normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = rng.Uniform();
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

TEST(RngTest, GammaSqueezesAcceptExactlyWhatTheLogTestAccepts) {
  // A squeeze may only accept a try the log test accepts: the same stream
  // then gives the same draws, bit for bit.
  for (double shape : {0.3, 1.0, 1.2, 2.5, 10.0, 300.0, 1e5}) {
    Rng a(5), b(5);
    for (int i = 0; i < 200000; ++i) {
      const double x = a.Gamma(shape);
      const double y = GammaByLogTestOnly(b, shape);
      ASSERT_EQ(x, y) << "shape " << shape << " draw " << i;
    }
  }
}

TEST(RngTest, GammaMatchesTheGammaDistribution) {
  // KS against P(shape, x) at level 0.001 and the moments (mean = variance
  // = shape; tolerances 5 standard errors), shape below, at and above 1.
  Rng rng(12);
  const size_t n = 200000;
  for (double shape : {0.3, 1.0, 2.5, 40.0}) {
    std::vector<double> x(n);
    for (double& v : x) v = rng.Gamma(shape);
    EXPECT_LT(KsStatistic(x, [shape](double t) { return GammaCdf(shape, t); }), KsCritical(n))
        << "shape " << shape;
    const Moments m = MomentsOf(x);
    // sd of the mean sqrt(shape / n); of the variance sqrt((2 + 6 / shape) / n) shape.
    EXPECT_NEAR(m.mean, shape, 5 * std::sqrt(shape / n)) << shape;
    EXPECT_NEAR(m.var, shape, 5 * shape * std::sqrt((2 + 6 / shape) / n)) << shape;
    EXPECT_GE(*std::min_element(x.begin(), x.end()), 0.0);
  }
}

TEST(RngTest, BetaMatchesTheBetaDistribution) {
  // KS at level 0.001 against the arcsine law (Beta(1/2, 1/2)) and the
  // binomial form of integer Betas; the mean within 5 standard errors, the
  // variance within 2% (5 standard errors are 0.8-1.6% here).
  Rng rng(13);
  const size_t n = 200000;
  struct Case {
    double a, b;
    std::function<double(double)> cdf;
  };
  const std::vector<Case> cases = {
      {0.5, 0.5, [](double t) { return t <= 0 ? 0 : t >= 1 ? 1 : 2 / M_PI * std::asin(std::sqrt(t)); }},
      {2, 6, [](double t) { return IntegerBetaCdf(2, 6, t); }},
      {1, 1, [](double t) { return std::clamp(t, 0.0, 1.0); }},
      {30, 70, [](double t) { return IntegerBetaCdf(30, 70, t); }},
  };
  for (const Case& c : cases) {
    std::vector<double> x(n);
    for (double& v : x) v = rng.Beta(c.a, c.b);
    EXPECT_LT(KsStatistic(x, c.cdf), KsCritical(n)) << "Beta(" << c.a << ", " << c.b << ")";
    const double mean = c.a / (c.a + c.b);
    const double var = c.a * c.b / ((c.a + c.b) * (c.a + c.b) * (c.a + c.b + 1));
    const Moments m = MomentsOf(x);
    EXPECT_NEAR(m.mean, mean, 5 * std::sqrt(var / n)) << c.a << " " << c.b;
    EXPECT_NEAR(m.var, var, 0.02 * var) << c.a << " " << c.b;
  }
}

TEST(FileUtilTest, AtomicWriteReplacesAndLeavesNoTemp) {
  ScratchDir dir;
  const std::string path = dir.File("f.txt");
  ASSERT_OK(WriteFileAtomically(path, "one"));
  ASSERT_OK(WriteFileAtomically(path, "two"));
  ASSERT_OK_AND_ASSIGN(std::string s, ReadFileToString(path));
  EXPECT_EQ(s, "two");
  EXPECT_FALSE(PathExists(path + ".tmp"));
  EXPECT_THAT(ReadFileToString(dir.File("nope")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

TEST(FileUtilTest, MakeDirsAndMappedFile) {
  ScratchDir dir;
  ASSERT_OK(MakeDirs(dir.File("a/b/c")));
  ASSERT_OK(MakeDirs(dir.File("a/b/c")));
  EXPECT_TRUE(PathExists(dir.File("a/b/c")));
  ASSERT_OK(WriteFileSynced(dir.File("a/x"), "hello"));
  ASSERT_OK_AND_ASSIGN(auto mapped, MappedFile::Open(dir.File("a/x")));
  EXPECT_EQ(mapped->data(), "hello");
  ASSERT_OK(WriteFileSynced(dir.File("a/empty"), ""));
  ASSERT_OK_AND_ASSIGN(auto empty, MappedFile::Open(dir.File("a/empty")));
  EXPECT_EQ(empty->data(), "");
  // Never null: readers memchr it (the OPE CSV fuzzer found a null there).
  EXPECT_NE(empty->data().data(), nullptr);
  EXPECT_THAT(MappedFile::Open(dir.File("a")), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(FileUtilTest, ReadsOnlyRegularFilesAndNeverMoreThanTheBound) {
  ScratchDir dir;
  ASSERT_OK(WriteFileSynced(dir.File("f"), "0123456789"));
  ASSERT_OK_AND_ASSIGN(std::string all, ReadFileToString(dir.File("f")));
  EXPECT_EQ(all, "0123456789");
  EXPECT_OK(ReadFileToString(dir.File("f"), 10).status());
  EXPECT_THAT(ReadFileToString(dir.File("f"), 9),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("has 10 bytes; at most 9")));
  // A symlink to a regular file is read; to a device, never (it has no end).
  std::filesystem::create_symlink(dir.File("f"), dir.File("link"));
  EXPECT_OK(ReadFileToString(dir.File("link")).status());
  std::filesystem::create_symlink("/dev/zero", dir.File("zero"));
  EXPECT_THAT(ReadFileToString(dir.File("zero")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
  EXPECT_THAT(MappedFile::Open(dir.File("zero")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
  // A FIFO with no writer: refused at once instead of blocking in open().
  ASSERT_EQ(::mkfifo(dir.File("fifo").c_str(), 0600), 0);
  EXPECT_THAT(ReadFileToString(dir.File("fifo")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
  EXPECT_THAT(MappedFile::Open(dir.File("fifo")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ReadFileToString(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is a directory")));
}

TEST(Crc32cTest, KnownValues) {
  // Reference values for CRC-32C (RFC 3720 test vectors).
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8a9136aau);
  EXPECT_EQ(Crc32c("56789", Crc32c("1234")), 0xe3069283u);  // continues
  // The hardware path (when the CPU has it) equals the table, at every
  // length and alignment.
  std::string bytes(300, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; start + len <= bytes.size(); len += 13) {
      const std::string_view v(bytes.data() + start, len);
      ASSERT_EQ(Crc32c(v), Crc32cPortable(v)) << start << " " << len;
      ASSERT_EQ(Crc32c(v, 0x1234u), Crc32cPortable(v, 0x1234u));
    }
  }
}

TEST(JsonTest, PrintsEveryFieldWithNumbersForInt64) {
  SplitReport report;
  report.set_train(12345678901LL);
  report.set_scheme("random \"x\"");
  const std::string json = ToJson(report);
  EXPECT_THAT(json, HasSubstr("\"train\":12345678901"));
  EXPECT_THAT(json, HasSubstr("\"test\":0"));
  EXPECT_THAT(json, HasSubstr("\"scheme\":\"random \\\"x\\\"\""));
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.find('\n'), std::string::npos);
}

TEST(JsonTest, WrappersPrintAsTheirValueAndUnsetOnesAreLeftOut) {
  ValidationGates gates;
  gates.mutable_ndcg_tolerance()->set_value(0);
  gates.mutable_min_coverage()->set_value(0.25);
  const std::string json = ToJson(gates);
  EXPECT_THAT(json, HasSubstr("\"ndcg_tolerance\":0,"));
  EXPECT_THAT(json, HasSubstr("\"min_coverage\":0.25"));
  EXPECT_THAT(json, Not(HasSubstr("recall_tolerance")));
  EXPECT_THAT(json, Not(HasSubstr("value")));
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::Status Quarter(int x, int* out) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(*out, Half(h));
  RETURN_IF_ERROR(absl::OkStatus());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, PropagateErrorsAndValues) {
  int q = 0;
  EXPECT_OK(Quarter(8, &q));
  EXPECT_EQ(q, 2);
  EXPECT_THAT(Quarter(6, &q), StatusIs(absl::StatusCode::kInvalidArgument, "odd"));
}

TEST(ProgressReporterTest, PlainLinesWithEta) {
  char* buf = nullptr;
  size_t size = 0;
  FILE* mem = open_memstream(&buf, &size);
  {
    ProgressReporter::Options o;
    o.out = mem;
    o.mode = ProgressReporter::Options::Mode::kLines;
    o.min_line_interval = absl::ZeroDuration();
    ProgressReporter p("train", 4, o);
    EXPECT_LT(p.EtaSeconds(), 0);  // unknown before any progress
    p.Update(1, "loss=0.5");
    EXPECT_GE(p.EtaSeconds(), 0);
    p.Update(4);
    EXPECT_EQ(p.EtaSeconds(), 0);
  }
  std::fclose(mem);
  std::string text(buf, size);
  free(buf);
  EXPECT_THAT(text, HasSubstr("train 1/4"));
  EXPECT_THAT(text, HasSubstr("loss=0.5"));
  EXPECT_THAT(text, HasSubstr("train 4/4"));
  EXPECT_EQ(text.find('\r'), std::string::npos);  // no bar off a terminal
}


// Captures what a reporter writes.
class ProgressOutput {
 public:
  ProgressOutput() : file_(open_memstream(&buf_, &size_)) {}
  ~ProgressOutput() { free(buf_); }
  FILE* file() { return file_; }
  std::string Close() {
    std::fclose(file_);
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  FILE* file_;
};

TEST(ProgressReporterTest, WorkThatFailsPrintsNoFinalLine) {
  ProgressOutput lines, bar;
  {
    ProgressReporter::Options o;
    o.out = lines.file();
    o.mode = ProgressReporter::Options::Mode::kLines;
    o.min_line_interval = absl::Hours(1);
    ProgressReporter p("simulate runs", 10, o);
    p.Update(3);
    p.Update(4);  // rate-limited; no Finish: the caller returns an error
  }
  const std::string line = lines.Close();
  EXPECT_THAT(line, StartsWith("simulate runs 3/10 elapsed"));
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  {
    ProgressReporter::Options o;
    o.out = bar.file();
    o.mode = ProgressReporter::Options::Mode::kBar;
    ProgressReporter p("index items", 10, o);
    p.Update(3);
  }
  const std::string text = bar.Close();
  EXPECT_EQ(text.back(), '\n') << "the error must start its own line";
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 1) << text;
}

TEST(ProgressReporterTest, UnknownTotalShowsTheCountOnceAtTheEnd) {
  ProgressOutput out;
  {
    ProgressReporter::Options o;
    o.out = out.file();
    o.mode = ProgressReporter::Options::Mode::kLines;
    o.min_line_interval = absl::Hours(1);  // only the first and the final line
    ProgressReporter p("export rows", 0, o);
    for (int i = 1; i <= 1000; ++i) p.Update(i);
    EXPECT_LT(p.EtaSeconds(), 0);
    p.Finish();
  }
  const std::string text = out.Close();
  EXPECT_THAT(text, HasSubstr("export rows 1 elapsed"));
  EXPECT_THAT(text, HasSubstr("export rows 1000 elapsed"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_THAT(text, Not(HasSubstr("eta")));
}

TEST(ProgressReporterTest, BarRedrawsAreRateLimitedButTheLastIsDrawn) {
  ProgressOutput out;
  {
    ProgressReporter::Options o;
    o.out = out.file();
    o.mode = ProgressReporter::Options::Mode::kBar;
    o.min_bar_interval = absl::Hours(1);
    ProgressReporter p("bootstrap", 100000, o);
    for (int i = 1; i <= 100000; ++i) p.Update(i);
    p.Finish();
  }
  const std::string text = out.Close();
  // The first update, the last (done == total) and Finish's final line.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 3) << text;
  EXPECT_THAT(text, HasSubstr("100000/100000"));
  EXPECT_EQ(text.back(), '\n');
}

TEST(LineReaderTest, NumbersLinesAndTrimsLineEndings) {
  LineReader lines("a,b\r\n\nlast");
  std::string_view line;
  std::vector<std::pair<int64_t, std::string>> seen;
  while (lines.Next(&line)) seen.emplace_back(lines.line_number(), std::string(line));
  EXPECT_THAT(seen, ::testing::ElementsAre(std::make_pair(1, "a,b"), std::make_pair(2, ""),
                                           std::make_pair(3, "last")));
  LineReader final_newline("x\n");
  ASSERT_TRUE(final_newline.Next(&line));
  EXPECT_EQ(line, "x");
  EXPECT_FALSE(final_newline.Next(&line)) << "a final newline starts no line";
  LineReader empty("");
  EXPECT_FALSE(empty.Next(&line));
}

}  // namespace
}  // namespace recbandit
