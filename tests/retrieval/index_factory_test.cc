// Tests of the index factory grammar: what it accepts, the bound it names
// for what it refuses, and that every accepted string builds through FAISS
// on small data without aborting the process.
#include "retrieval/index_factory.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "retrieval/item_index.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::retrieval {
namespace {

using ::recbandit::testing::IsOk;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ParseIndexFactoryTest, ParsesEveryKind) {
  ASSERT_OK_AND_ASSIGN(IndexSpec hnsw, ParseIndexFactory("HNSW32", 64));
  EXPECT_EQ(hnsw.kind, IndexSpec::Kind::kHnsw);
  EXPECT_EQ(hnsw.hnsw_m, 32);
  ASSERT_OK_AND_ASSIGN(IndexSpec ivfpq, ParseIndexFactory("IVF256,PQ16x4", 64, 10000));
  EXPECT_EQ(ivfpq.kind, IndexSpec::Kind::kIvf);
  EXPECT_EQ(ivfpq.ivf_lists, 256);
  EXPECT_EQ(ivfpq.fine, IndexSpec::Kind::kPq);
  EXPECT_EQ(ivfpq.pq_m, 16);
  EXPECT_EQ(ivfpq.pq_bits, 4);
  for (const char* ok : {"Exact", "Flat", "HNSW4", "HNSW128", "HNSW16,Flat", "IVF1,Flat",
                         "IVF64,SQ8", "IVF8,SQfp16", "PQ8", "PQ64x8", "SQ4", "SQ6", "SQ8"}) {
    EXPECT_THAT(ParseIndexFactory(ok, 64, 1000), IsOk()) << ok;
  }
}

TEST(ParseIndexFactoryTest, RefusesWhatWouldAbortOrExhaustFaissNamingTheBound) {
  struct Case {
    const char* factory;
    int64_t items;
    const char* message;
  };
  const Case cases[] = {
      {"HNSW0", 1000, "M must be in [4, 128], got 0"},
      {"HNSW3", 1000, "M must be in [4, 128]"},
      {"HNSW100000", 1000, "M must be in [4, 128], got 100000"},
      {"HNSW", 1000, "HNSW needs a graph degree"},
      {"HNSW-1", 1000, "HNSW needs a graph degree"},
      {"HNSW16,PQ8", 1000, "Flat only"},
      {"IVF0,Flat", 1000, "nlist must be in [1, 65536], got 0"},
      {"IVF99999,Flat", 1000, "nlist must be in [1, 65536]"},
      {"IVF2000,Flat", 1000, "but only 1000 items"},
      {"IVF16", 1000, "needs an encoding"},
      {"IVF16,PQ7", 1000, "must divide the dimension 64, got 7"},
      {"IVF16,PQ0", 1000, "must divide the dimension"},
      {"PQ128", 1000, "must divide the dimension 64, got 128"},
      {"PQ8x0", 1000, "nbits must be in [1, 12], got 0"},
      {"PQ8x13", 1000000, "nbits must be in [1, 12], got 13"},
      {"PQ8x12", 1000, "but only 1000 items"},
      {"PQ8x", 1000, "needs a number of bits"},
      {"SQ7", 1000, "SQ takes 4, 6, 8 or fp16"},
      {"IVF16,Flat,Flat", 1000, "at most two"},
      {"IDMap,Flat", 1000, "unknown index kind"},
      {"OPQ16,IVF16,PQ16", 1000, "at most two"},
      {"LSH", 1000, "unknown index kind"},
      {"flat", 1000, "unknown index kind"},
      {"HNSW99999999999", 1000, "HNSW needs a graph degree"},
      {"Flat ", 1000, "unknown index kind"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseIndexFactory(c.factory, 64, c.items),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.factory;
  }
  EXPECT_THAT(ParseIndexFactory("", 64), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIndexFactory("Flat", 0), StatusIs(absl::StatusCode::kInvalidArgument,
                                                     HasSubstr("dimension")));
  // A long string is quoted bounded.
  const absl::Status long_one = ParseIndexFactory("HNSW" + std::string(5000, '9'), 64).status();
  EXPECT_THAT(long_one, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_LT(long_one.message().size(), 400u);
}

TEST(ParseIndexFactoryTest, ItemCountChecksWaitForTheCount) {
  // At Train time the count is unknown (0): only count-free bounds apply.
  EXPECT_THAT(ParseIndexFactory("IVF2000,Flat", 64), IsOk());
  EXPECT_THAT(ParseIndexFactory("IVF2000,Flat", 64, 1999),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("IVF lists but only 1999 items")));
}

// Every accepted kind, built by BuildItemIndex over a few hundred vectors
// (PQ with few codebook bits: FAISS trains larger ones slowly),
// either builds and searches or answers a Status: never an abort.
TEST(ParseIndexFactoryTest, EveryAcceptedStringBuildsThroughFaiss) {
  const int32_t dim = 16, n = 300;
  Rng rng(7);
  std::vector<float> vectors(static_cast<size_t>(n) * dim);
  for (float& v : vectors) v = static_cast<float>(rng.Uniform() - 0.5);
  IndexBuildOptions options;
  options.hnsw_ef_construction = 40;
  for (const char* factory : {"Exact", "Flat", "HNSW4", "HNSW16,Flat", "IVF1,Flat", "IVF17,Flat",
                              "IVF300,Flat", "IVF8,SQ8", "IVF8,SQ4", "IVF8,SQfp16", "IVF4,PQ4x4",
                              "PQ2x4", "SQ8", "SQ6", "SQfp16"}) {
    ASSERT_THAT(ParseIndexFactory(factory, dim, n), IsOk()) << factory;
    ASSERT_OK_AND_ASSIGN(auto index, BuildItemIndex(factory, vectors, dim, options));
    SearchResult top;
    ASSERT_OK(index->Search(absl::MakeConstSpan(vectors.data(), dim), 10, {}, {}, &top));
    EXPECT_EQ(top.ids.size(), 10u) << factory;
  }
  for (const char* refused : {"HNSW0", "IVF0,Flat", "IVF301,Flat", "PQ4x9", "HNSW100000"}) {
    EXPECT_THAT(BuildItemIndex(refused, vectors, dim, options),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << refused;
  }
  IndexBuildOptions bad = options;
  bad.hnsw_ef_construction = 0;
  EXPECT_THAT(BuildItemIndex("HNSW8", vectors, dim, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("efConstruction")));
}

}  // namespace
}  // namespace recbandit::retrieval
