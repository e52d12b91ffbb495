// Tests for ranking/short_id_table.h: every lookup and insertion checked
// against std::unordered_map, on random keys (NUL bytes, every length 0..15),
// through each growth, and with every key forced into one bucket.
#include "ranking/short_id_table.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"
#include "proto/core/random.h"

namespace recbandit::ranking::internal {
namespace {

// Returns a key of `length` random bytes from a small alphabet with NUL in it
// (so keys that differ only in trailing NULs or length meet).
std::string RandomKey(Rng& rng, size_t length) {
  static constexpr char kAlphabet[] = {'\0', 'a', 'b', '\xff'};
  std::string key(length, '\0');
  for (char& c : key) c = kAlphabet[rng.UniformInt(4)];
  return key;
}

// Inserts `keys` in order into `table`, each followed by a lookup of every key
// met so far when `check_all` (else of the new one), against an oracle.
void InsertAndCheck(const std::vector<std::string>& keys, ShortIdTable& table, bool check_all) {
  std::unordered_map<std::string, int32_t> oracle;
  std::vector<std::string> order;
  for (const std::string& k : keys) {
    const ShortIdTable::Key key = ShortIdTable::KeyOf(k);
    const uint64_t hash = table.Hash(key);
    const int32_t expected_before = oracle.count(k) ? oracle[k] : -1;
    ASSERT_EQ(table.Find(key, hash), expected_before);
    bool inserted = false;
    const int32_t next = static_cast<int32_t>(oracle.size());
    const int32_t got = table.FindOrInsert(key, hash, next, &inserted);
    ASSERT_EQ(inserted, expected_before < 0);
    ASSERT_EQ(got, expected_before < 0 ? next : expected_before);
    if (inserted) {
      oracle[k] = next;
      order.push_back(k);
    }
    ASSERT_EQ(table.size(), static_cast<int32_t>(oracle.size()));
    if (check_all) {
      for (const std::string& seen : order) {
        const ShortIdTable::Key s = ShortIdTable::KeyOf(seen);
        ASSERT_EQ(table.Find(s, table.Hash(s)), oracle[seen]);
      }
    }
  }
  for (const auto& [k, v] : oracle) {
    const ShortIdTable::Key key = ShortIdTable::KeyOf(k);
    EXPECT_EQ(table.Find(key, table.Hash(key)), v);
  }
}

TEST(ShortIdTableTest, KeysKeepBytesAndLength) {
  // Trailing NULs and the length make distinct keys; the 15th byte counts.
  EXPECT_FALSE(ShortIdTable::KeyOf("a") == ShortIdTable::KeyOf(std::string("a\0", 2)));
  EXPECT_FALSE(ShortIdTable::KeyOf("") == ShortIdTable::KeyOf(std::string(1, '\0')));
  EXPECT_FALSE(ShortIdTable::KeyOf("123456789012345") ==
               ShortIdTable::KeyOf("123456789012346"));
  EXPECT_FALSE(ShortIdTable::KeyOf("12345678") == ShortIdTable::KeyOf("12345679"));
  EXPECT_TRUE(ShortIdTable::KeyOf(std::string_view()) == ShortIdTable::KeyOf(""));
}

// KeyOf loads overlapping words; the key is the bytes copied one by one.
TEST(ShortIdTableTest, KeyOfEqualsTheBytesPaddedWithTheLength) {
  Rng rng(3);
  for (size_t length = 0; length <= ShortIdTable::kMaxKeyBytes; ++length) {
    for (int trial = 0; trial < 200; ++trial) {
      std::string id(length, '\0');
      for (char& c : id) c = static_cast<char>(rng.UniformInt(256));
      unsigned char bytes[16] = {};
      for (size_t b = 0; b < length; ++b) bytes[b] = static_cast<unsigned char>(id[b]);
      bytes[15] = static_cast<unsigned char>(length);
      uint64_t lo = 0, hi = 0;
      for (int b = 7; b >= 0; --b) lo = lo << 8 | bytes[b];
      for (int b = 15; b >= 8; --b) hi = hi << 8 | bytes[b];
      const ShortIdTable::Key key = ShortIdTable::KeyOf(id);
      ASSERT_EQ(key.lo, lo) << length;
      ASSERT_EQ(key.hi, hi) << length;
    }
  }
}

TEST(ShortIdTableTest, EmptyTableFindsNothing) {
  ShortIdTable t;
  const ShortIdTable::Key key = ShortIdTable::KeyOf("u17");
  t.Prefetch(t.Hash(key));  // no buckets yet: nothing to load
  EXPECT_EQ(t.Find(key, t.Hash(key)), -1);
  EXPECT_EQ(t.size(), 0);
  EXPECT_EQ(t.MemoryBytes(), 0u);
}

TEST(ShortIdTableTest, MatchesUnorderedMapOnRandomKeysWithDuplicates) {
  Rng rng(17);
  std::vector<std::string> keys;
  // Short keys repeat often (4^3 of length 3); long ones rarely.
  for (int k = 0; k < 20000; ++k) keys.push_back(RandomKey(rng, rng.UniformInt(16)));
  ShortIdTable t;
  InsertAndCheck(keys, t, /*check_all=*/false);
  EXPECT_GT(t.size(), 10000);
  EXPECT_LT(t.size(), 20000);
}

// Every key met so far is found after each insertion, so each growth
// (1, 2, 4, ... buckets; at 3/4 of the entries) is crossed with all keys
// checked on both sides of it.
TEST(ShortIdTableTest, EveryKeyFoundAcrossEachGrowth) {
  std::vector<std::string> keys;
  for (int k = 0; k < 1600; ++k) keys.push_back("id" + std::to_string(k));
  ShortIdTable t;
  InsertAndCheck(keys, t, /*check_all=*/true);
  // 1600 keys at <= 3/4 of 3 entries per 64-byte bucket: 1024 buckets.
  EXPECT_EQ(t.MemoryBytes(), 1024u * 64);
}

// Every key hashed alike: one probe chain through the whole table, starting
// at the first bucket (hash 0) or the last (all ones: it wraps around).
TEST(ShortIdTableTest, CollidingKeysStayDistinct) {
  for (const uint64_t or_bits : {uint64_t{0}, ~uint64_t{0}}) {
    std::vector<std::string> keys;
    for (int k = 0; k < 300; ++k) keys.push_back(std::to_string(k));
    keys.push_back(std::string(15, '\0'));
    keys.push_back(std::string(14, '\0'));
    keys.push_back("");
    keys.push_back("0");  // a duplicate
    ShortIdTable t = ShortIdTable::WithHashMaskForTesting(0, or_bits);
    InsertAndCheck(keys, t, /*check_all=*/true);
    EXPECT_EQ(t.size(), 303);
  }
}

// Small maps stay small (models hold two IdMaps; their size counts against
// the server's model memory budget): one bucket for 2 keys, two for 3 to 4.
TEST(ShortIdTableTest, SmallTablesTakeOneBucketPerFewKeys) {
  ShortIdTable t;
  bool inserted;
  const std::vector<std::pair<std::string, size_t>> steps = {
      {"a", 64}, {"b", 64}, {"c", 128}, {"d", 128}, {"e", 256}};
  for (const auto& [id, bytes] : steps) {
    const ShortIdTable::Key key = ShortIdTable::KeyOf(id);
    t.FindOrInsert(key, t.Hash(key), t.size(), &inserted);
    EXPECT_EQ(t.MemoryBytes(), bytes) << id;
  }
}

TEST(ShortIdTableTest, ClearEmptiesTheTable) {
  ShortIdTable t;
  bool inserted;
  const ShortIdTable::Key a = ShortIdTable::KeyOf("a");
  EXPECT_EQ(t.FindOrInsert(a, t.Hash(a), 7, &inserted), 7);
  t.Clear();
  EXPECT_EQ(t.Find(a, t.Hash(a)), -1);
  EXPECT_EQ(t.FindOrInsert(a, t.Hash(a), 3, &inserted), 3);
  EXPECT_TRUE(inserted);
}

}  // namespace
}  // namespace recbandit::ranking::internal
