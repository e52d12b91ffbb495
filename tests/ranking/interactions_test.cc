// Tests for ranking/interactions.h: every input format, headers, string ids,
// duplicates, empty files, bad lines and the CSR matrices.
#include "ranking/interactions.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/escaping.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/file_util.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::ranking {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::recbandit::testing::WriteTextFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Returns (user, item, weight, ts) tuples by external id, in file order.
std::vector<std::tuple<std::string, std::string, float, int64_t>> Rows(
    const InteractionLog& log) {
  std::vector<std::tuple<std::string, std::string, float, int64_t>> rows;
  for (int64_t k = 0; k < log.size(); ++k) {
    rows.emplace_back(log.users.Name(log.user[k]), log.items.Name(log.item[k]),
                      log.weight[k], log.timestamp[k]);
  }
  return rows;
}

TEST(IdMapTest, MapsBothWaysInFirstSeenOrder) {
  IdMap m;
  EXPECT_EQ(m.GetOrAdd("alice"), 0);
  EXPECT_EQ(m.GetOrAdd("bob"), 1);
  EXPECT_EQ(m.GetOrAdd("alice"), 0);
  EXPECT_EQ(m.Find("bob"), 1);
  EXPECT_EQ(m.Find("carol"), -1);
  EXPECT_EQ(m.Name(1), "bob");
  IdMap copy = m;  // copies rebuild the index
  EXPECT_EQ(copy.Find("alice"), 0);
  EXPECT_EQ(copy.size(), 2);
}

TEST(IdMapTest, NumericAndTextIdsNeverCollide) {
  // Canonical decimal ids take a fast path; "007", "-7", "7.0" and "x7" do not.
  IdMap m;
  const std::vector<std::string> ids = {"7", "007", "-7", "7.0", "x7", "0", "00",
                                        "99999999", "123456789012", "67108864"};
  for (size_t k = 0; k < ids.size(); ++k) ASSERT_EQ(m.GetOrAdd(ids[k]), static_cast<int32_t>(k));
  for (size_t k = 0; k < ids.size(); ++k) {
    EXPECT_EQ(m.Find(ids[k]), static_cast<int32_t>(k)) << ids[k];
    EXPECT_EQ(m.Name(static_cast<int32_t>(k)), ids[k]);
  }
  EXPECT_EQ(m.Find("8"), -1);
  EXPECT_EQ(m.Find("100000000"), -1);
  IdMap copy = m;
  EXPECT_EQ(copy.Find("7"), 0);
  EXPECT_EQ(copy.Find("007"), 1);
}

TEST(IdMapTest, OneLargeNumericIdDoesNotCostALargeTable) {
  // Found by fuzzing: the direct table for numeric ids grew to the largest
  // id seen (67108863 -> 256 MB) whatever the number of ids.
  IdMap m;
  EXPECT_EQ(m.GetOrAdd("67108863"), 0);
  EXPECT_EQ(m.GetOrAdd("67108862"), 1);
  EXPECT_EQ(m.Find("67108863"), 0);
  EXPECT_EQ(m.Find("67108861"), -1);
  EXPECT_LT(m.MemoryBytes(), size_t{1} << 20);
}

TEST(IdMapTest, NumericIdsHashedBeforeTheTableReachesThemStayFound) {
  // 100000 is hashed while few ids are held; the dense ids that follow grow
  // the table past it; it keeps its dense id, found and never added twice.
  IdMap m;
  ASSERT_EQ(m.GetOrAdd("100000"), 0);
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(m.GetOrAdd(std::to_string(i)), i + 1);
  ASSERT_EQ(m.GetOrAdd("150000"), 20001);  // the table now covers 100000
  EXPECT_EQ(m.GetOrAdd("100000"), 0);
  EXPECT_EQ(m.Find("100000"), 0);
  EXPECT_EQ(m.Find("100001"), -1);
  EXPECT_EQ(m.size(), 20002);
  IdMap copy = m;
  for (int32_t i = 0; i < m.size(); ++i) EXPECT_EQ(copy.Find(m.Name(i)), i) << m.Name(i);
  // Memory stays proportional to the ids held.
  EXPECT_LT(m.MemoryBytes(), size_t{20002} * 200 + (size_t{1} << 20));
}

// Ids up to 15 bytes are keyed inline (bytes and length), longer ones by
// name: ids that differ only in length, NUL bytes or the 15/16 byte boundary
// stay distinct, and copies find them all.
TEST(IdMapTest, ShortAndLongIdsNeverCollide) {
  const std::vector<std::string> ids = {
      "a", std::string("a\0", 2), std::string("\0", 1), std::string("\0\0", 2), "",
      "123456789012345", "1234567890123456", "12345678901234", "12345678",
      "123456789", std::string(15, '\0'), std::string(16, '\0'), "\xff\xff\xff\xff\xff\xff\xff\xff",
      "u17", "17", "017"};
  IdMap map;
  for (size_t k = 0; k < ids.size(); ++k) EXPECT_EQ(map.GetOrAdd(ids[k]), static_cast<int32_t>(k));
  const IdMap copy = map;
  for (size_t k = 0; k < ids.size(); ++k) {
    EXPECT_EQ(map.GetOrAdd(ids[k]), static_cast<int32_t>(k)) << k;
    EXPECT_EQ(map.Find(ids[k]), static_cast<int32_t>(k)) << k;
    EXPECT_EQ(copy.Find(ids[k]), static_cast<int32_t>(k)) << k;
    EXPECT_EQ(map.Name(static_cast<int32_t>(k)), ids[k]);
  }
  EXPECT_EQ(map.size(), static_cast<int32_t>(ids.size()));
  EXPECT_EQ(map.Find("b"), -1);
  EXPECT_EQ(map.Find(std::string("a\0\0", 3)), -1);
  EXPECT_EQ(map.Find("1234567890123457"), -1);
  EXPECT_EQ(map.Find(std::string_view()), 4);  // a null empty view is the empty id
}

TEST(IdMapTest, ManyIdsKeepStableLookups) {
  IdMap m;
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(m.GetOrAdd("id" + std::to_string(i)), i);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(m.Find("id" + std::to_string(i)), i);
}

// Ids of every kind (integer, short, 15/16 bytes, long, NUL bytes) against
// an unordered_map oracle, half of them through probes (IdMap::Prefetch) made
// before the tables grew many times; copies agree.
TEST(IdMapTest, MatchesOracleWithPrefetchAcrossGrowth) {
  Rng rng(7);
  std::vector<std::string> ids;
  for (int k = 0; k < 30000; ++k) {
    const uint64_t shape = rng.UniformInt(4);
    std::string s = shape == 0 ? std::to_string(rng.UniformInt(40000)) : "";
    if (shape != 0) {
      const size_t length = shape == 1 ? 15 + rng.UniformInt(2) : rng.UniformInt(24);
      for (size_t c = 0; c < length; ++c) s += "\0ab"[rng.UniformInt(3)];
    }
    ids.push_back(s);
  }
  IdMap m;
  // Probes of even ids made while the map is empty, used after it grew; odd
  // ids added by name.
  std::vector<IdMap::Probe> probes;
  for (size_t k = 0; k < ids.size(); k += 2) probes.push_back(m.Prefetch(ids[k]));
  std::unordered_map<std::string, int32_t> oracle;
  for (size_t k = 0; k < ids.size(); ++k) {
    const int32_t expected =
        oracle.count(ids[k]) ? oracle[ids[k]] : static_cast<int32_t>(oracle.size());
    oracle.emplace(ids[k], expected);
    ASSERT_EQ(k % 2 == 0 ? m.GetOrAdd(probes[k / 2]) : m.GetOrAdd(ids[k]), expected) << k;
  }
  ASSERT_EQ(m.size(), static_cast<int32_t>(oracle.size()));
  const IdMap copy = m;
  for (const auto& [id, dense] : oracle) {
    ASSERT_EQ(m.Find(id), dense);
    ASSERT_EQ(copy.Find(id), dense);
    ASSERT_EQ(m.Name(dense), id);
  }
  EXPECT_EQ(m.Find("zzz"), -1);
}

TEST(ParseInteractionsTest, CsvWithHeaderAndStringIds) {
  ASSERT_OK_AND_ASSIGN(
      InteractionLog log,
      ParseInteractions("user,item,weight,timestamp\nalice,book-1,2.5,100\n"
                        "bob,book-2,1,200\n",
                        "x.csv"));
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("alice", "book-1", 2.5f, 100),
                                     std::make_tuple("bob", "book-2", 1.0f, 200)));
  EXPECT_TRUE(log.has_timestamps);
}

TEST(ParseInteractionsTest, TwoColumnsWithoutHeaderDefaultWeightOne) {
  LoadStats stats;
  ASSERT_OK_AND_ASSIGN(InteractionLog log,
                       ParseInteractions("1,10\n2,20\n", "x.csv", {}, &stats));
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("1", "10", 1.0f, 0),
                                     std::make_tuple("2", "20", 1.0f, 0)));
  EXPECT_FALSE(stats.had_header);
  EXPECT_FALSE(log.has_timestamps);
}

TEST(ParseInteractionsTest, MovieLensUData) {
  // u.data: tab separated user item rating timestamp, no header.
  ASSERT_OK_AND_ASSIGN(InteractionLog log,
                       ParseInteractions("196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
                                         "u.data"));
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("196", "242", 3.0f, 881250949),
                                     std::make_tuple("186", "302", 3.0f, 891717742)));
}

TEST(ParseInteractionsTest, MovieLensRatingsCsv) {
  LoadStats stats;
  ASSERT_OK_AND_ASSIGN(
      InteractionLog log,
      ParseInteractions("userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n"
                        "1,3,4.5,964981247\r\n",
                        "ratings.csv", {}, &stats));
  EXPECT_TRUE(stats.had_header);
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("1", "1", 4.0f, 964982703),
                                     std::make_tuple("1", "3", 4.5f, 964981247)));
}

TEST(ParseInteractionsTest, WhitespaceSeparatedWithBlankLines) {
  ASSERT_OK_AND_ASSIGN(InteractionLog log,
                       ParseInteractions("\n  a   x  2\n\n b y\t3 \n   \n", "ws.txt"));
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("a", "x", 2.0f, 0),
                                     std::make_tuple("b", "y", 3.0f, 0)));
}

TEST(ParseInteractionsTest, TsvHeaderDetectedByNonNumericWeight) {
  LoadStats stats;
  ASSERT_OK_AND_ASSIGN(InteractionLog log,
                       ParseInteractions("visitor\tsku\tclicks\nv1\ts1\t7\n", "x.tsv",
                                         {}, &stats));
  EXPECT_TRUE(stats.had_header);
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("v1", "s1", 7.0f, 0)));
}

TEST(ParseInteractionsTest, ExplicitHeaderOptions) {
  LoadOptions yes;
  yes.header = LoadOptions::Header::kYes;
  ASSERT_OK_AND_ASSIGN(InteractionLog a, ParseInteractions("u,i\n1,2\n", "x", yes));
  EXPECT_EQ(a.size(), 1);
  LoadOptions no;
  no.header = LoadOptions::Header::kNo;
  ASSERT_OK_AND_ASSIGN(InteractionLog b, ParseInteractions("user,item\n1,2\n", "x", no));
  EXPECT_EQ(b.size(), 2);
  EXPECT_EQ(b.users.Name(0), "user");
}

TEST(ParseInteractionsTest, QuotedIdsAreUnquoted) {
  ASSERT_OK_AND_ASSIGN(InteractionLog log, ParseInteractions("\"u1\",\"i1\"\n", "q"));
  EXPECT_EQ(log.users.Name(0), "u1");
  EXPECT_EQ(log.items.Name(0), "i1");
}

TEST(ParseInteractionsTest, EmptyInputGivesEmptyLog) {
  ASSERT_OK_AND_ASSIGN(InteractionLog a, ParseInteractions("", "empty.csv"));
  EXPECT_EQ(a.size(), 0);
  ASSERT_OK_AND_ASSIGN(InteractionLog b, ParseInteractions("user,item\n", "hdr.csv"));
  EXPECT_EQ(b.size(), 0);
}

// A weight or timestamp written as a number but out of range is data, not a
// header: the line is refused with its number instead of being skipped.
TEST(ParseInteractionsTest, OutOfRangeNumbersOnTheFirstLineAreNotAHeader) {
  EXPECT_THAT(ParseInteractions("u1,i1,1,99999999999999999999\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data.csv:1: timestamp")));
  EXPECT_THAT(ParseInteractions("u1,i1,1e999\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data.csv:1: weight")));
  EXPECT_THAT(ParseInteractions("u1,i1,-inf\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data.csv:1: weight")));
  LoadStats stats;
  ASSERT_OK_AND_ASSIGN(InteractionLog log,
                       ParseInteractions("u1,i1,1.5e0,12.5\n", "data.csv", {}, &stats));
  EXPECT_FALSE(stats.had_header);
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("u1", "i1", 1.5f, 12)));
  // Words in the weight or timestamp column still make a header.
  ASSERT_OK_AND_ASSIGN(log, ParseInteractions("u,i,1e,ts\nu1,i1,1,2\n", "data.csv", {}, &stats));
  EXPECT_TRUE(stats.had_header);
}

TEST(ParseInteractionsTest, BadLinesNameFileAndLine) {
  EXPECT_THAT(ParseInteractions("a,b,1\nc,d,1\nonlyone\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.csv:3: expected 2 to 5 fields")));
  EXPECT_THAT(ParseInteractions("a,b,1\nc,d,xyz\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.csv:2: weight 'xyz' is not a finite number")));
  EXPECT_THAT(ParseInteractions("a,b,1\nc,d,-2\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data.csv:2: weight -2 is negative")));
  // Ids must be valid UTF-8 (they travel in JSON and protobuf strings).
  EXPECT_THAT(ParseInteractions("u1,i1\nu\xff,i2\n", "data.csv", {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.csv:2: user id 'u\\xff' is not valid UTF-8")));
  EXPECT_THAT(ParseInteractions("u1,\xc0\xaf\n", "data.csv", {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.csv:1: item id '\\xc0\\xaf' is not valid UTF-8")));
  EXPECT_OK(ParseInteractions("caf\xc3\xa9,\xe2\x82\xac\n", "data.csv", {}).status());
  EXPECT_THAT(ParseInteractions("a,b,1,5\nc,d,1,soon\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.csv:2: timestamp 'soon' is not a number")));
  // A decimal timestamp beyond int64 is refused, not converted (undefined).
  EXPECT_THAT(ParseInteractions("a,b,1,5\nc,d,1,1e300\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.csv:2: timestamp '1e300' is not a number")));
  EXPECT_THAT(ParseInteractions("a,b\n,d\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data.csv:2: empty user id")));
  EXPECT_THAT(ParseInteractions("a,b\nc,d,1,2,click,3\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 6")));
  // An event type follows the name rule.
  EXPECT_THAT(ParseInteractions("a,b,1,5,click\nc,d,1,6,-buy\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.csv:2: event_type '-buy'")));
  EXPECT_THAT(ParseInteractions("a,b,1,5,click\nc,d,1,6,a/b\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("data.csv:2: event_type")));
  EXPECT_THAT(ParseInteractions("a,b,nan\n", "data.csv", {}, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseInteractionsTest, SkipBadLinesCountsThem) {
  LoadOptions options;
  options.skip_bad_lines = true;
  LoadStats stats;
  ASSERT_OK_AND_ASSIGN(InteractionLog log,
                       ParseInteractions("a,b,1\nbroken\nc,d,oops\ne,f,2\n", "s.csv",
                                         options, &stats));
  EXPECT_EQ(log.size(), 2);
  EXPECT_EQ(stats.skipped_lines, 2);
  EXPECT_EQ(stats.lines, 2);
  EXPECT_THAT(stats.first_error, HasSubstr("s.csv:2:"));
  EXPECT_THAT(SkippedLinesWarning("s.csv", stats),
              ::testing::StartsWith("s.csv: skipped 2 bad lines; first: s.csv:2:"));
  EXPECT_EQ(SkippedLinesWarning("s.csv", LoadStats()), "");
  // The path is bounded in the warning as in every error message.
  EXPECT_LT(SkippedLinesWarning(std::string(5000, 'p'), stats).size(), 1000u);
}

TEST(ParseInteractionsTest, EventTypeColumnIsOptionalPerFileAndPerLine) {
  ASSERT_OK_AND_ASSIGN(
      InteractionLog log,
      ParseInteractions("user,item,weight,timestamp,event_type\n"
                        "u1,i1,1,10,click\nu1,i2,1,11,purchase\nu2,i1,2,12,click\nu2,i3,1,13\n",
                        "typed.csv"));
  ASSERT_EQ(log.size(), 4);
  EXPECT_EQ(log.event_types.size(), 2);
  EXPECT_EQ(log.EventTypeName(0), "click");
  EXPECT_EQ(log.EventTypeName(1), "purchase");
  EXPECT_EQ(log.EventTypeName(2), "click");
  EXPECT_EQ(log.EventTypeName(3), "");  // a line without the column has no type
  // A typed line after untyped ones: the earlier rows get no type.
  ASSERT_OK_AND_ASSIGN(InteractionLog late, ParseInteractions("a,b,1,1\nc,d,1,2,view\n", "x"));
  EXPECT_THAT(late.event_type, ElementsAre(-1, 0));
  // Files without the column keep no per-row types at all.
  ASSERT_OK_AND_ASSIGN(InteractionLog plain, ParseInteractions("1\t2\t5\t881250949\n", "u.data"));
  EXPECT_TRUE(plain.event_type.empty());
}

// Returns a description of everything ParseInteractions produced for
// `contents` (status and message, stats, ids, rows, weight bits, types), with
// the fast path for plain lines on or off.
std::string Outcome(std::string_view contents, bool skip_bad_lines, bool fast_path) {
  LoadOptions options;
  options.skip_bad_lines = skip_bad_lines;
  LoadStats stats;
  absl::StatusOr<InteractionLog> log =
      internal::ParseInteractions(contents, "f.csv", options, &stats, fast_path);
  std::string out = log.status().ToString();
  if (!log.ok()) return out;
  out += "|" + std::to_string(stats.lines) + "|" + std::to_string(stats.skipped_lines) + "|" +
         stats.first_error + "|" + std::to_string(stats.had_header) + "|" +
         std::to_string(log->has_timestamps) + "|";
  for (int32_t i = 0; i < log->users.size(); ++i) out += "u:" + log->users.Name(i) + "\n";
  for (int32_t i = 0; i < log->items.size(); ++i) out += "i:" + log->items.Name(i) + "\n";
  for (int32_t i = 0; i < log->event_types.size(); ++i) {
    out += "t:" + log->event_types.Name(i) + "\n";
  }
  for (int64_t r = 0; r < log->size(); ++r) {
    uint32_t bits;
    std::memcpy(&bits, &log->weight[r], sizeof(bits));
    out += std::to_string(log->user[r]) + "," + std::to_string(log->item[r]) + "," +
           std::to_string(bits) + "," + std::to_string(log->timestamp[r]) + "\n";
  }
  for (int16_t t : log->event_type) out += std::to_string(t) + ";";
  return out;
}

// The edges of the fast path for plain lines: each input gives exactly what
// the general path gives (the oracle), rows and errors alike.
TEST(ParseInteractionsTest, FastPathMatchesGeneralPathOnEdges) {
  const std::string long_id(100000, 'x');
  const std::vector<std::string> inputs = {
      "u,i,w,t\r\na,b,1,2\r\nc,d,2.5,3\r\n",          // CRLF
      "a,b,1,2\nc,d,2.5,3",                          // last line without newline
      "a,b,1,2\nc,d,2.5,3\r",                        // ... ending in a lone CR
      "a,b,1,2\nc,d\r\r\ne,f\n",                     // CR CR LF: the id keeps one CR
      "a,b\nc\rd,e\n",                               // a CR inside a line
      "user,item\na,b\n\n\nc,d\n  \n\t\ne,f\n",      // header, blank lines
      "a\tb\t1\t2\nc\td\t3\t4\n",                    // tabs
      "a\tb\t1\t2\nc,d\t3\t4\n",                     // a comma inside a tab-separated id
      "a,b,1,2\nc\td,3,4\n",                         // a tab inside a comma-separated id
      "a,b\nc , d ,1\n",                             // blanks around fields
      "a,b\n\"c\",\"d\",\"1\"\n",                    // quotes
      std::string("a,b\nc\0d,e\n", 10),              // NUL inside an id
      std::string("a,b\nc,d,1\0\n", 11),             // NUL after a weight
      "a,b\n" + long_id + "," + long_id + ",1,2\n",  // a very long line
      "a,b\nc,d,,5\n",                               // empty weight
      "a,b\nc,,1\n",                                 // empty item
      "a,b\nc,d,1,2,click,3\n",                      // six fields
      "a,b,1,2,\nc,d,1,2,click\ne,f,1,2,click\ng,h,1,2,view\ni,j,1,2\n",  // types
      "a,b,1,2,click\nc,d,1,2,-bad\n",               // a bad type
      "a,b\nc,d,+1\ne,f,1.\ng,h,.5\ni,j,1e3\nk,l,-0\nm,n,0\n",
      "a,b\nc,d,0.1234567\ne,f,16777216\ng,h,16777217\ni,j,3.14159265358979\n",
      "a,b\nc,d,0.0000000001\ne,f,1.00000000001\ng,h,000000000000001.5\n",
      "a,b\nc,d,nan\n", "a,b\nc,d,inf\n", "a,b\nc,d,-1\n", "a,b\nc,d,1e999\n",
      "a,b\nc,d,1,-5\ne,f,1,1.5\ng,h,1,99999999999999999999\ni,j,1,x\n",
      "a,b\ncaf\xc3\xa9,\xe2\x82\xac\n", "a,b\nc\xff,d\n",  // UTF-8, and not
      "a,b,1,2\nc,d,1\ne,f\ng,h,1,2\n",              // field counts change
      "1,2\n1,2\n1,3\n2,3\n",                        // previous ids reused
  };
  for (const std::string& input : inputs) {
    for (const bool skip : {false, true}) {
      EXPECT_EQ(Outcome(input, skip, /*fast_path=*/true), Outcome(input, skip, false))
          << "input: " << absl::CEscape(input) << " skip: " << skip;
    }
  }
}

// The interactions fuzzer's seeds (tests/fuzz/corpus/interactions_fuzzer/)
// give the same result on both paths, and the known rows.
TEST(ParseInteractionsTest, FuzzerSeedsMatchGeneralPath) {
  int64_t rows = 0;
  for (const char* seed : {"header.csv", "movielens.tsv", "quoted.csv"}) {
    ASSERT_OK_AND_ASSIGN(std::string text,
                         ReadFileToString(::recbandit::testing::SourceDir() +
                                          "/tests/fuzz/corpus/interactions_fuzzer/" + seed));
    for (const bool skip : {false, true}) {
      EXPECT_EQ(Outcome(text, skip, /*fast_path=*/true), Outcome(text, skip, false)) << seed;
    }
    ASSERT_OK_AND_ASSIGN(InteractionLog log, ParseInteractions(text, seed));
    rows += log.size();
  }
  EXPECT_EQ(rows, 6);  // two rows in each seed
}

// Random files from pieces that sit on the edges of the fast path, compared
// with the general path (seeded; 3000 files).
TEST(ParseInteractionsTest, FastPathMatchesGeneralPathOnRandomFiles) {
  const std::vector<std::string> ids = {"a", "b", "u17", "42", "0", "007", "\"q\"", " s ",
                                        "caf\xc3\xa9", "x\xff", "", "user", "-", "i\"j"};
  const std::vector<std::string> types = {"click", "view", "", "-x", "a b"};
  const std::vector<std::string> ends = {"\n", "\n", "\n", "\r\n", "\r", "\n\n", " \n"};
  Rng rng(20261207);
  const auto pick = [&](const std::vector<std::string>& v) {
    return v[rng.UniformInt(v.size())];
  };
  // A number: digits with a point somewhere, sometimes with a sign, an
  // exponent or a stray letter.
  const auto number = [&]() {
    std::string s;
    const int digits = 1 + static_cast<int>(rng.UniformInt(12));
    for (int d = 0; d < digits; ++d) s += static_cast<char>('0' + rng.UniformInt(10));
    const uint64_t shape = rng.UniformInt(10);
    if (shape < 4) s.insert(rng.UniformInt(s.size() + 1), ".");
    if (shape == 4) s = "-" + s;
    if (shape == 5) s = "+" + s;
    if (shape == 6) s += "e" + std::to_string(rng.UniformInt(50));
    if (shape == 7) s += "z";
    return s;
  };
  for (int file = 0; file < 3000; ++file) {
    const char delim = rng.UniformInt(4) == 0 ? '\t' : ',';
    std::string text;
    const int lines = 1 + static_cast<int>(rng.UniformInt(8));
    for (int l = 0; l < lines; ++l) {
      const int fields = 1 + static_cast<int>(rng.UniformInt(6));
      for (int f = 0; f < fields; ++f) {
        if (f > 0) text += rng.UniformInt(40) == 0 ? (delim == ',' ? '\t' : ',') : delim;
        if (f < 2) text += rng.UniformInt(3) == 0 ? pick(ids) : "v" + number();
        if (f == 2 || f == 3) text += number();
        if (f == 4) text += pick(types);
        if (f == 5) text += "x";
      }
      if (l + 1 < lines || rng.UniformInt(2) == 0) text += pick(ends);
    }
    for (const bool skip : {false, true}) {
      ASSERT_EQ(Outcome(text, skip, /*fast_path=*/true), Outcome(text, skip, false))
          << "file " << file << ": " << absl::CEscape(text) << " skip: " << skip;
    }
  }
}

// Long files through the fast path's look-ahead (ids prefetched and looked up
// several lines later): thousands of distinct ids of 1 to 20 bytes (the
// 15/16-byte boundary, NUL bytes, integer and string ids) grow the id tables
// many times, repeated ids and runs of one user meet the remembered previous
// ids, and non-plain lines every few dozen lines (quoted, a bad weight, a new
// event type) leave the fast path with lines parsed ahead. Same result as the
// general path (seeded).
TEST(ParseInteractionsTest, FastPathMatchesGeneralPathOnLongFilesOfManyIds) {
  Rng rng(20261208);
  const auto id = [&](char prefix) {
    const uint64_t shape = rng.UniformInt(6);
    if (shape == 0) return std::to_string(rng.UniformInt(5000));  // integer ids
    std::string s(1, prefix);
    const size_t length = shape == 1 ? 14 + rng.UniformInt(3) : 1 + rng.UniformInt(20);
    while (s.size() < length) s += static_cast<char>('a' + rng.UniformInt(3));
    if (rng.UniformInt(50) == 0) s[s.size() / 2] = '\0';  // general path: still ids
    return s;
  };
  for (int file = 0; file < 6; ++file) {
    std::string text = file % 2 == 0 ? "user,item,weight,timestamp\n" : "";
    std::string user = id('u');
    for (int line = 0; line < 8000; ++line) {
      if (rng.UniformInt(3) != 0) user = id('u');  // else a run of one user
      text += user + "," + id('i') + "," + std::to_string(rng.UniformInt(5)) + "." +
              std::to_string(rng.UniformInt(100)) + "," + std::to_string(line);
      const uint64_t odd = rng.UniformInt(40);
      if (odd == 0) text += ",\"q\"";
      if (odd == 1) text += "x";
      if (odd == 2) text += ",type" + std::to_string(rng.UniformInt(3));
      text += "\n";
    }
    for (const bool skip : {false, true}) {
      ASSERT_EQ(Outcome(text, skip, /*fast_path=*/true), Outcome(text, skip, false))
          << "file " << file << " skip: " << skip;
    }
    LoadOptions options;
    options.skip_bad_lines = true;
    ASSERT_OK_AND_ASSIGN(InteractionLog log, ParseInteractions(text, "f.csv", options));
    EXPECT_GT(log.users.size(), 4000);
  }
}

// Known answers on the edges the fast path meets most: CRLF, no final
// newline, tabs, a header, blank lines, decimal weights.
TEST(ParseInteractionsTest, PlainLinesKnownAnswers) {
  LoadStats stats;
  ASSERT_OK_AND_ASSIGN(
      InteractionLog log,
      ParseInteractions("user,item,weight,timestamp\r\nu1,i1,0.1,5\r\n\r\nu2,i2,2.25,6\r\n"
                        "u1,i2,16777217,7",
                        "crlf.csv", {}, &stats));
  EXPECT_TRUE(stats.had_header);
  EXPECT_EQ(stats.lines, 3);
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("u1", "i1", 0.1f, 5),
                                     std::make_tuple("u2", "i2", 2.25f, 6),
                                     std::make_tuple("u1", "i2", 16777216.0f, 7)));
  ASSERT_OK_AND_ASSIGN(log, ParseInteractions("1\t2\t3\t4\n\n5\t6\t7\t8", "u.data"));
  EXPECT_THAT(Rows(log), ElementsAre(std::make_tuple("1", "2", 3.0f, 4),
                                     std::make_tuple("5", "6", 7.0f, 8)));
  // Line numbers count blank lines and the header, whichever path reads a line.
  EXPECT_THAT(ParseInteractions("user,item\r\na,b\r\n\r\nc,d\r\ne,f,x\r\n", "data.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("data.csv:5: weight 'x' is not a finite number")));
  // A NUL byte is id text (valid UTF-8), as before.
  ASSERT_OK_AND_ASSIGN(log, ParseInteractions(std::string("a,b\nc\0d,e\n", 10), "nul.csv"));
  ASSERT_EQ(log.size(), 2);
  EXPECT_EQ(log.users.Name(1), std::string("c\0d", 3));
}

TEST(ReweightTest, EventWeightsMinWeightAndBinaryKnownAnswers) {
  auto load = [] {
    return *ParseInteractions(
        "u1,i1,1,1,click\nu1,i2,1,2,purchase\nu1,i1,1,3,click\nu2,i3,2,4,view\nu2,i4,3,5\n",
        "e.csv");
  };
  WeightingOptions o;
  ASSERT_OK_AND_ASSIGN(o.event_weights, ParseEventWeights("purchase=5, view=0", "--event_weights"));
  InteractionLog log = load();
  ASSERT_OK_AND_ASSIGN(WeightingStats st, Reweight(o, "e.csv", &log));
  EXPECT_EQ(st.kept, 4);
  EXPECT_EQ(st.dropped, 1);  // the view, weighed 0
  EXPECT_THAT(log.weight, ElementsAre(1, 5, 1, 3));
  EXPECT_EQ(log.EventTypeName(3), "");
  // --min_weight after the type weights: only the purchase (5) and the
  // untyped weight-3 row reach 3.
  o.min_weight = 3;
  log = load();
  ASSERT_OK_AND_ASSIGN(st, Reweight(o, "e.csv", &log));
  EXPECT_EQ(st.kept, 2);
  EXPECT_THAT(log.weight, ElementsAre(5, 3));
  // --binary: each kept pair once, weight 1 (u1,i1 appears twice).
  WeightingOptions binary;
  binary.binary = true;
  log = load();
  ASSERT_OK_AND_ASSIGN(st, Reweight(binary, "e.csv", &log));
  EXPECT_EQ(st.duplicates, 1);
  EXPECT_THAT(log.weight, ElementsAre(1, 1, 1, 1));
  EXPECT_THAT(log.timestamp, ElementsAre(1, 2, 4, 5));
}

TEST(ReweightTest, MinWeightOnMovieLensRatingsDropsExactlyTheLowOnes) {
  // u.data rows: ratings 5, 3, 4, 1, 4 -> --min_weight=4 keeps rows 1, 3, 5.
  InteractionLog log = *ParseInteractions(
      "196\t242\t5\t881250949\n186\t302\t3\t891717742\n22\t377\t4\t878887116\n"
      "244\t51\t1\t880606923\n166\t346\t4\t886397596\n", "u.data");
  WeightingOptions o;
  o.min_weight = 4;
  ASSERT_OK_AND_ASSIGN(WeightingStats st, Reweight(o, "u.data", &log));
  EXPECT_EQ(st.dropped, 2);
  EXPECT_THAT(log.timestamp, ElementsAre(881250949, 878887116, 886397596));
  EXPECT_THAT(log.weight, ElementsAre(5, 4, 4));
}

TEST(ReweightTest, BadWeightListsAndUnknownTypesAreRefused) {
  EXPECT_THAT(ParseEventWeights("click", "--event_weights"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected type=weight")));
  EXPECT_THAT(ParseEventWeights("click=-1", "--event_weights"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("finite number >= 0")));
  EXPECT_THAT(ParseEventWeights("click=nan", "--event_weights"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseEventWeights("click=1,click=2", "--event_weights"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("given twice")));
  EXPECT_THAT(ParseEventWeights("a b=1", "--event_weights"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(auto none, ParseEventWeights("", "--event_weights"));
  EXPECT_TRUE(none.empty());
  InteractionLog log = *ParseInteractions("u1,i1,1,1,click\n", "e.csv");
  WeightingOptions o;
  o.event_weights = {{"clik", 2.0f}};
  EXPECT_THAT(Reweight(o, "e.csv", &log),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("event type 'clik' has a weight but e.csv has only click")));
}

TEST(WriteInteractionsTest, EventTypesRoundTrip) {
  ScratchDir dir;
  InteractionLog log = *ParseInteractions("a,b,1,5,click\nc,d,2,6\n", "x");
  ASSERT_OK(WriteInteractions(dir.File("t.csv"), log));
  ASSERT_OK_AND_ASSIGN(InteractionLog back, LoadInteractions(dir.File("t.csv")));
  ASSERT_EQ(back.size(), 2);
  EXPECT_EQ(back.EventTypeName(0), "click");
  EXPECT_EQ(back.EventTypeName(1), "");
}

TEST(LoadInteractionsTest, ReadsFileAndReportsMissingFile) {
  ScratchDir dir;
  WriteTextFile(dir.File("a.csv"), "u1,i1,1\nu1,i2,3\n");
  ASSERT_OK_AND_ASSIGN(InteractionLog log, LoadInteractions(dir.File("a.csv")));
  EXPECT_EQ(log.size(), 2);
  EXPECT_THAT(LoadInteractions(dir.File("missing.csv")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.csv")));
}

TEST(WriteInteractionsTest, RoundTripsExactly) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(InteractionLog log,
                       ParseInteractions("x,y,0.1,5\nz,y,3.25,-7\n", "in"));
  ASSERT_OK(WriteInteractions(dir.File("out.csv"), log));
  ASSERT_OK_AND_ASSIGN(InteractionLog back, LoadInteractions(dir.File("out.csv")));
  EXPECT_EQ(Rows(back), Rows(log));
}

TEST(InteractionsTest, DuplicatesSumAndCsrIsSorted) {
  ASSERT_OK_AND_ASSIGN(InteractionLog log,
                       ParseInteractions("u,c,1\nu,a,2\nv,b,1\nu,c,4\nv,a,1\n", "d"));
  Interactions x = Interactions::FromLog(log);
  EXPECT_EQ(x.num_users(), 2);
  EXPECT_EQ(x.num_items(), 3);
  EXPECT_EQ(x.nnz(), 4);  // (u,c) merged
  const int32_t u = x.users().Find("u");
  const int32_t a = x.items().Find("a"), c = x.items().Find("c");
  auto idx = x.user_items().RowIndices(u);
  auto val = x.user_items().RowValues(u);
  ASSERT_EQ(idx.size(), 2u);
  EXPECT_TRUE(std::is_sorted(idx.begin(), idx.end()));
  for (size_t k = 0; k < idx.size(); ++k) {
    if (idx[k] == c) {
      EXPECT_FLOAT_EQ(val[k], 5.0f);
    }
    if (idx[k] == a) {
      EXPECT_FLOAT_EQ(val[k], 2.0f);
    }
  }
  EXPECT_TRUE(x.user_items().Contains(u, c));
  EXPECT_FALSE(x.user_items().Contains(x.users().Find("v"), c));
}

TEST(InteractionsTest, TransposeMatchesOnRandomData) {
  Rng rng(7);
  InteractionLog log;
  for (int k = 0; k < 5000; ++k) {
    log.Add(log.users.GetOrAdd(std::to_string(rng.UniformInt(200))),
            log.items.GetOrAdd(std::to_string(rng.UniformInt(100))),
            static_cast<float>(rng.UniformInt(5) + 1), 0);
  }
  Interactions x = Interactions::FromLog(log);
  // Oracle: dense sums.
  std::vector<double> dense(static_cast<size_t>(x.num_users()) * x.num_items(), 0);
  for (int64_t k = 0; k < log.size(); ++k) dense[log.user[k] * x.num_items() + log.item[k]] += log.weight[k];
  int64_t nonzero = 0;
  for (double d : dense) nonzero += d != 0;
  EXPECT_EQ(x.nnz(), nonzero);
  for (int32_t u = 0; u < x.num_users(); ++u) {
    auto idx = x.user_items().RowIndices(u);
    auto val = x.user_items().RowValues(u);
    for (size_t k = 0; k < idx.size(); ++k) {
      ASSERT_FLOAT_EQ(val[k], dense[u * x.num_items() + idx[k]]);
    }
  }
  for (int32_t i = 0; i < x.num_items(); ++i) {
    auto idx = x.item_users().RowIndices(i);
    auto val = x.item_users().RowValues(i);
    ASSERT_TRUE(std::is_sorted(idx.begin(), idx.end()));
    for (size_t k = 0; k < idx.size(); ++k) {
      ASSERT_FLOAT_EQ(val[k], dense[idx[k] * x.num_items() + i]);
    }
  }
}

TEST(InteractionsTest, FromLogWithIdsDropsUnknown) {
  ASSERT_OK_AND_ASSIGN(InteractionLog train, ParseInteractions("a,x\nb,y\n", "t"));
  ASSERT_OK_AND_ASSIGN(InteractionLog test, ParseInteractions("b,x\nc,x\na,z\n", "s"));
  int64_t dropped = 0;
  Interactions x = Interactions::FromLogWithIds(test, train.users, train.items, &dropped);
  EXPECT_EQ(dropped, 2);
  EXPECT_EQ(x.nnz(), 1);
  EXPECT_TRUE(x.user_items().Contains(train.users.Find("b"), train.items.Find("x")));
}

}  // namespace
}  // namespace recbandit::ranking
