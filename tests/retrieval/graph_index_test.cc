// Tests for the "Graph<M>[,SQ8|,SQ4]" index (retrieval/graph_index.h), each
// on 8-bit and 4-bit codes: recall against the exact oracle on clustered
// data at a fixed seed, exact scores after the re-rank, exclusions honoured
// with k filled (up to all but a few items excluded), a deterministic
// single-thread build, save/load round trips, version-1 files still loading,
// and DATA_LOSS (never a crash) for corrupt or truncated files.
#include "retrieval/graph_index.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/file_util.h"
#include "proto/core/random.h"
#include "retrieval/index_factory.h"
#include "retrieval/item_index.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::retrieval {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;

constexpr int32_t kDim = 48;

// Items around 60 centres with varied norms, like trained item factors.
std::vector<float> Clustered(int64_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> centres(60 * kDim);
  for (float& c : centres) c = static_cast<float>(rng.Normal());
  std::vector<float> v(n * kDim);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = rng.UniformInt(60);
    const float norm = 0.5f + static_cast<float>(rng.UniformInt(100)) / 100.0f;
    for (int j = 0; j < kDim; ++j) {
      v[i * kDim + j] = norm * (centres[c * kDim + j] + 0.6f * static_cast<float>(rng.Normal()));
    }
  }
  return v;
}

std::vector<float> Query(Rng& rng) {
  std::vector<float> q(kDim);
  for (float& x : q) x = static_cast<float>(rng.Normal());
  return q;
}

// The two code widths every test runs on: "" (8 bits) and ",SQ4".
constexpr const char* kCodes[] = {"", ",SQ4"};

IndexBuildOptions OneThread() {
  IndexBuildOptions o;
  o.threads = 1;
  o.seed = 7;
  return o;
}

// Mean recall@10 of `index` over `queries` seeded queries against ExactTopK.
double Recall(const ItemIndex& index, const std::vector<float>& v, int queries,
              const SearchParams& params, uint64_t seed) {
  Rng rng(seed);
  double hits = 0;
  for (int t = 0; t < queries; ++t) {
    std::vector<float> q = Query(rng);
    SearchResult truth = ExactTopK(v, kDim, q, 10, {});
    std::set<int32_t> want(truth.ids.begin(), truth.ids.end());
    SearchResult r;
    EXPECT_OK(index.Search(q, 10, {}, params, &r));
    EXPECT_EQ(r.ids.size(), 10u);
    for (int32_t id : r.ids) hits += want.count(id);
  }
  return hits / (10.0 * queries);
}

TEST(GraphIndexTest, RecallAgainstExactAboveFloorAndGrowsWithEf) {
  const std::vector<float> v = Clustered(20000, 1);
  for (const char* codes : kCodes) {
    const std::string factory = absl::StrCat("Graph12", codes);
    SCOPED_TRACE(factory);
    ASSERT_OK_AND_ASSIGN(auto index, BuildItemIndex(factory, v, kDim, OneThread()));
    EXPECT_EQ(index->factory(), factory);
    EXPECT_EQ(index->size(), 20000);
    EXPECT_FALSE(index->exact());
    const double r32 = Recall(*index, v, 200, SearchParams{32, 0}, 2);
    const double r256 = Recall(*index, v, 200, SearchParams{256, 0}, 2);
    // Measured at this seed: 0.94 at efSearch 256 (hnswlib's and FAISS's
    // graphs of degree 12 reach the same on such data with float walks).
    EXPECT_GE(r256, 0.92) << "efSearch 32: " << r32;
    EXPECT_GT(r256, r32 + 0.05);
  }
}

TEST(GraphIndexTest, ScoresAreTheExactInnerProducts) {
  const std::vector<float> v = Clustered(5000, 3);
  for (const char* factory : {"Graph8,SQ8", "Graph8,SQ4"}) {
    SCOPED_TRACE(factory);
    ASSERT_OK_AND_ASSIGN(auto index, BuildItemIndex(factory, v, kDim, OneThread()));
    Rng rng(4);
    for (int t = 0; t < 30; ++t) {
      std::vector<float> q = Query(rng);
      SearchResult r;
      ASSERT_OK(index->Search(q, 10, {}, SearchParams{64, 0}, &r));
      ASSERT_EQ(r.ids.size(), 10u);
      SearchResult truth = ExactTopK(v, kDim, q, 5000, {});
      for (size_t j = 0; j < r.ids.size(); ++j) {
        // The oracle's score of the same row, bit for bit (same kernel).
        const auto it = std::find(truth.ids.begin(), truth.ids.end(), r.ids[j]);
        ASSERT_NE(it, truth.ids.end());
        EXPECT_EQ(r.scores[j], truth.scores[it - truth.ids.begin()]);
        double dot = 0;
        for (int d = 0; d < kDim; ++d) dot += static_cast<double>(v[r.ids[j] * kDim + d]) * q[d];
        EXPECT_NEAR(r.scores[j], dot, 1e-4 * (1 + std::abs(dot)));
        if (j > 0) {
          EXPECT_GE(r.scores[j - 1], r.scores[j]);
        }
      }
    }
  }
}

TEST(GraphIndexTest, HeavyExclusionsHonouredAndKFilled) {
  const int64_t n = 3000;
  const std::vector<float> v = Clustered(n, 5);
  for (const char* codes : kCodes) {
    SCOPED_TRACE(codes);
    ASSERT_OK_AND_ASSIGN(auto index,
                         BuildItemIndex(absl::StrCat("Graph8", codes), v, kDim, OneThread()));
    Rng rng(6);
    for (int t = 0; t < 30; ++t) {
      std::vector<float> q = Query(rng);
      // Excluding the exact top 200 (the whole neighbourhood the walk reaches
      // first), a random half, or all but 3 items.
      std::vector<int32_t> exclude;
      if (t % 3 == 0) {
        exclude = ExactTopK(v, kDim, q, 200, {}).ids;
      } else {
        for (int32_t i = 0; i < n; ++i) {
          if (t % 3 == 1 ? rng.UniformInt(2) == 0 : i >= 3) exclude.push_back(i);
        }
      }
      std::sort(exclude.begin(), exclude.end());
      exclude.push_back(exclude.back());  // duplicates are allowed
      SearchResult r;
      ASSERT_OK(index->Search(q, 10, exclude, {}, &r));
      const size_t allowed =
          static_cast<size_t>(n) - std::set<int32_t>(exclude.begin(), exclude.end()).size();
      ASSERT_EQ(r.ids.size(), std::min<size_t>(10, allowed));
      std::set<int32_t> unique(r.ids.begin(), r.ids.end());
      EXPECT_EQ(unique.size(), r.ids.size());
      for (int32_t id : r.ids) EXPECT_FALSE(std::binary_search(exclude.begin(), exclude.end(), id));
      if (t % 3 == 2) {  // all but 3 excluded: exactly those 3, best first
        EXPECT_EQ(r.ids, ExactTopK(v, kDim, q, 10, exclude).ids);
      }
    }
  }
}

TEST(GraphIndexTest, OneThreadBuildIsDeterministicAndSaveLoadRoundTrips) {
  ScratchDir dir;
  const std::vector<float> v = Clustered(4000, 7);
  for (const char* codes : kCodes) {
    const std::string factory = absl::StrCat("Graph8", codes);
    SCOPED_TRACE(factory);
    ASSERT_OK_AND_ASSIGN(auto a, BuildItemIndex(factory, v, kDim, OneThread()));
    ASSERT_OK_AND_ASSIGN(auto b, BuildItemIndex(factory, v, kDim, OneThread()));
    ASSERT_OK(a->Save(dir.File("a.index")));
    ASSERT_OK(b->Save(dir.File("b.index")));
    ASSERT_OK_AND_ASSIGN(std::string bytes_a, ReadFileToString(dir.File("a.index")));
    ASSERT_OK_AND_ASSIGN(std::string bytes_b, ReadFileToString(dir.File("b.index")));
    EXPECT_TRUE(bytes_a == bytes_b) << "same inputs and seed, one thread: same image";
    ASSERT_OK_AND_ASSIGN(auto loaded, LoadItemIndex(dir.File("a.index"), v, kDim));
    EXPECT_EQ(loaded->factory(), factory);
    Rng rng(8);
    for (int t = 0; t < 20; ++t) {
      std::vector<float> q = Query(rng);
      SearchResult x, y;
      ASSERT_OK(a->Search(q, 10, {1, 2, 3}, SearchParams{40, 0}, &x));
      ASSERT_OK(loaded->Search(q, 10, {1, 2, 3}, SearchParams{40, 0}, &y));
      EXPECT_EQ(x.ids, y.ids);
      EXPECT_EQ(x.scores, y.scores);
    }
    // Another model's vectors: refused, not searched.
    EXPECT_THAT(LoadItemIndex(dir.File("a.index"), Clustered(10, 1), kDim).status(),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  }
}

// A version-1 file (8-bit codes, zero where version 2 keeps code_bits) is
// the same image as version 2's 8-bit one with those header bytes changed:
// it loads and answers the same; a version-1 header naming 4 bits does not.
TEST(GraphIndexTest, VersionOneFilesStillLoad) {
  ScratchDir dir;
  const std::vector<float> v = Clustered(1500, 17);
  ASSERT_OK_AND_ASSIGN(auto index, BuildItemIndex("Graph8", v, kDim, OneThread()));
  ASSERT_OK(index->Save(dir.File("v2.index")));
  ASSERT_OK_AND_ASSIGN(std::string image, ReadFileToString(dir.File("v2.index")));
  uint32_t version = 0, bits = 0;
  std::memcpy(&version, image.data() + 8, 4);
  std::memcpy(&bits, image.data() + 96, 4);
  ASSERT_EQ(version, 2u);
  ASSERT_EQ(bits, 8u);
  auto rewrite = [&](uint32_t new_version, uint32_t new_bits) {
    std::string out = image;
    std::memcpy(out.data() + 8, &new_version, 4);
    std::memcpy(out.data() + 96, &new_bits, 4);
    const uint32_t crc = Crc32c(std::string_view(out.data() + 128, out.size() - 128),
                                Crc32c(std::string_view(out.data(), 124)));
    std::memcpy(out.data() + 124, &crc, 4);
    return out;
  };
  ASSERT_OK(WriteFileAtomically(dir.File("v1.index"), rewrite(1, 0)));
  ASSERT_OK_AND_ASSIGN(auto v1, LoadItemIndex(dir.File("v1.index"), v, kDim));
  Rng rng(18);
  for (int t = 0; t < 10; ++t) {
    std::vector<float> q = Query(rng);
    SearchResult x, y;
    ASSERT_OK(index->Search(q, 10, {}, {}, &x));
    ASSERT_OK(v1->Search(q, 10, {}, {}, &y));
    EXPECT_EQ(x.ids, y.ids);
    EXPECT_EQ(x.scores, y.scores);
  }
  for (auto [new_version, new_bits] :
       {std::pair<uint32_t, uint32_t>{1, 8}, {1, 4}, {2, 0}, {2, 4}, {2, 6}, {3, 8}}) {
    ASSERT_OK(WriteFileAtomically(dir.File("bad.index"), rewrite(new_version, new_bits)));
    EXPECT_THAT(LoadItemIndex(dir.File("bad.index"), v, kDim).status(),
                StatusIs(absl::StatusCode::kDataLoss))
        << new_version << " " << new_bits;
  }
}

TEST(GraphIndexTest, TwoThreadBuildKeepsRecall) {
  const std::vector<float> v = Clustered(8000, 9);
  IndexBuildOptions o;
  o.threads = 2;
  int64_t last = 0;
  o.progress = [&](int64_t done, int64_t n) {
    EXPECT_GT(done, last);
    EXPECT_EQ(n, 8000);
    last = done;
  };
  ASSERT_OK_AND_ASSIGN(auto index, BuildItemIndex("Graph16", v, kDim, o));
  EXPECT_EQ(last, 8000);
  EXPECT_GE(Recall(*index, v, 100, SearchParams{128, 0}, 10), 0.95);
}

TEST(GraphIndexTest, CorruptOrTruncatedFilesAreDataLoss) {
  ScratchDir dir;
  const std::vector<float> v = Clustered(600, 11);
  for (const char* codes : kCodes) {
    SCOPED_TRACE(codes);
    ASSERT_OK_AND_ASSIGN(auto index,
                         BuildItemIndex(absl::StrCat("Graph4", codes), v, kDim, OneThread()));
    ASSERT_OK(index->Save(dir.File("g.index")));
    ASSERT_OK_AND_ASSIGN(std::string good, ReadFileToString(dir.File("g.index")));
    Rng rng(12);
    // A flipped byte anywhere (header fields, vectors, codes, links, padding).
    for (int t = 0; t < 60; ++t) {
      std::string bad = good;
      const size_t at = t < 20 ? static_cast<size_t>(t) * 6 : rng.UniformInt(bad.size());
      bad[at] = static_cast<char>(bad[at] ^ (1 + rng.UniformInt(255)));
      ASSERT_OK(WriteFileAtomically(dir.File("bad.index"), bad));
      EXPECT_THAT(LoadItemIndex(dir.File("bad.index"), v, kDim).status(),
                  StatusIs(absl::StatusCode::kDataLoss))
          << "byte " << at;
    }
    for (size_t len :
         {size_t{0}, size_t{7}, size_t{127}, size_t{128}, good.size() / 2, good.size() - 1}) {
      ASSERT_OK(WriteFileAtomically(dir.File("short.index"), good.substr(0, len)));
      EXPECT_THAT(LoadItemIndex(dir.File("short.index"), v, kDim).status(),
                  StatusIs(absl::StatusCode::kDataLoss))
          << "length " << len;
    }
    ASSERT_OK(WriteFileAtomically(dir.File("long.index"), good + "x"));
    EXPECT_THAT(LoadItemIndex(dir.File("long.index"), v, kDim).status(),
                StatusIs(absl::StatusCode::kDataLoss));
  }
}

TEST(GraphIndexTest, FactoryStringsAndBadInput) {
  EXPECT_OK(ValidateIndexFactory("Graph4", 64));
  EXPECT_OK(ValidateIndexFactory("Graph128,SQ8", 64));
  EXPECT_OK(ValidateIndexFactory("Graph16,SQ4", 64));
  for (const char* bad : {"Graph", "Graph3", "Graph129", "Graph16,Flat", "Graph16,SQ6", "Graph-8",
                          "Graph8x", "Graph8,SQ8,SQ8"}) {
    EXPECT_THAT(ValidateIndexFactory(bad, 64), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  ASSERT_OK_AND_ASSIGN(auto one, BuildItemIndex("Graph4", Clustered(1, 13), kDim, {}));
  SearchResult r;
  std::vector<float> q(kDim, 1.0f);
  ASSERT_OK(one->Search(q, 5, {}, {}, &r));
  EXPECT_EQ(r.ids, std::vector<int32_t>{0});
  ASSERT_OK(one->Search(q, 5, {0}, {}, &r));
  EXPECT_TRUE(r.ids.empty());
  EXPECT_THAT(one->Search(q, 0, {}, {}, &r), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(one->Search(q, 5, {}, SearchParams{5000, 0}, &r),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(one->Search(std::vector<float>(kDim - 1), 5, {}, {}, &r),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(one->Search(q, 5, {3, 1}, {}, &r), StatusIs(absl::StatusCode::kInvalidArgument));
  q[0] = std::nanf("");
  EXPECT_THAT(one->Search(q, 5, {}, {}, &r), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace recbandit::retrieval
