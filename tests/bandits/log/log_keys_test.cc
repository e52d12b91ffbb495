// Tests of the event log's key encodings: byte order is time order, prefix
// bounds, the printable form of keys.
#include "bandits/log/log_keys.h"

#include <string>

#include "gtest/gtest.h"

namespace recbandit::bandits {
namespace {

TEST(LogKeysTest, BigEndianRoundTripsAndSortsAsTheNumbers) {
  const uint64_t values[] = {0, 1, 255, 256, 1ull << 40, ~0ull};
  std::string previous;
  for (uint64_t v : values) {
    std::string bytes;
    AppendBigEndian64(v, &bytes);
    ASSERT_EQ(bytes.size(), 8u);
    EXPECT_EQ(ReadBigEndian64(bytes.data()), v);
    EXPECT_LT(previous, bytes);
    previous = bytes;
  }
}

TEST(LogKeysTest, DecisionKeysOfOneExperimentSortByTimeThenEventId) {
  EXPECT_LT(DecisionKey("exp", 99, "z"), DecisionKey("exp", 100, "a"));
  EXPECT_LT(DecisionKey("exp", 100, "a"), DecisionKey("exp", 100, "b"));
  // The \0 after the name keeps "exp" and "exp2" apart in a prefix scan.
  const std::string prefix = std::string("exp") + '\0';
  EXPECT_EQ(DecisionKey("exp", 5, "e").compare(0, prefix.size(), prefix), 0);
  EXPECT_LT(DecisionKey("exp", ~0ull >> 1, "e"), PrefixEnd(prefix));
  EXPECT_GT(DecisionKey("exp2", 0, "e"), PrefixEnd(prefix));
}

TEST(LogKeysTest, PrefixEndIsTheSmallestKeyAfterThePrefix) {
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
  EXPECT_GT(PrefixEnd("ab"), std::string("ab\xff\xff", 4));
}

TEST(LogKeysTest, OtherFamiliesOrderTheirNumbers) {
  EXPECT_LT(SeqKey("exp", 2), SeqKey("exp", 10));
  EXPECT_LT(SnapshotKey("exp", "arm", 9), SnapshotKey("exp", "arm", 10));
  EXPECT_LT(InteractionKey("u", 7, 100), InteractionKey("u", 8, 1));
  EXPECT_LT(InteractionKey("u", 7, 1), InteractionKey("u", 7, 2));
}

TEST(LogKeysTest, PrintableKeyEscapesEveryNonPrintableByte) {
  EXPECT_EQ(PrintableKey(std::string("ab\0c\\\n\xff", 7)), "ab\\x00c\\x5c\\x0a\\xff");
}

}  // namespace
}  // namespace recbandit::bandits
