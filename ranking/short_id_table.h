// ShortIdTable: the hash table behind IdMap's ids of at most 15 bytes. One
// 64-byte bucket (three keys with their values) per probe, and a Prefetch so a
// caller can start a lookup's cache miss several lines ahead.
#ifndef RECBANDIT_RANKING_SHORT_ID_TABLE_H_
#define RECBANDIT_RANKING_SHORT_ID_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace recbandit::ranking::internal {

// Maps keys of at most kMaxKeyBytes bytes (any bytes, NUL included) to int32
// values >= 0. Open addressing over cache-line buckets of three (key, value)
// entries, probed bucket after bucket, never deleted from: a lookup reads one
// cache line unless its bucket overflowed (at most 3/4 of the entries are
// used).
// Keys are held inline (bytes zero padded, the length in the last byte), so a
// probe compares two words and never reads a name elsewhere. Results never
// depend on the hash (it only places keys). Thread-compatible.
//
//   ShortIdTable t;
//   const ShortIdTable::Key k = ShortIdTable::KeyOf("u17");
//   bool added;
//   t.FindOrInsert(k, t.Hash(k), /*value=*/0, &added);  // 0, added
class ShortIdTable {
 public:
  static constexpr size_t kMaxKeyBytes = 15;

  struct Key {
    uint64_t lo = 0, hi = 0;
    bool operator==(const Key& o) const { return lo == o.lo && hi == o.hi; }
  };

  ShortIdTable() = default;

  // Returns the key of `id`: its bytes zero padded to 15, then its length
  // (little-endian words). Loads whole words (overlapping for lengths not a
  // power of two) rather than copying bytes to a buffer and reading it back
  // (a likely store-forwarding stall; bench/RESULTS.md, branch loader2).
  // REQUIRES: id.size() <= kMaxKeyBytes.
  static Key KeyOf(std::string_view id) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "words hold bytes in order");
    const char* p = id.data();
    const size_t n = id.size();
    Key key;
    if (n >= 8) {
      key.lo = Load<uint64_t>(p);
      if (n > 8) key.hi = Load<uint64_t>(p + n - 8) >> (8 * (16 - n));
    } else if (n >= 4) {
      key.lo = Load<uint32_t>(p) | uint64_t{Load<uint32_t>(p + n - 4)} << (8 * (n - 4));
    } else if (n > 0) {  // bytes 0, n/2 and n-1 cover every byte of 1 to 3
      key.lo = uint64_t{static_cast<uint8_t>(p[0])} |
               uint64_t{static_cast<uint8_t>(p[n / 2])} << (8 * (n / 2)) |
               uint64_t{static_cast<uint8_t>(p[n - 1])} << (8 * (n - 1));
    }
    key.hi |= uint64_t{n} << 56;
    return key;
  }

  // Returns the hash of `key` (a 64x64->128-bit multiply folded, per word).
  uint64_t Hash(const Key& key) const {
    return ((Mix(key.lo ^ 0x2d358dccaa6c78a5ull, 0x8bb84b93962eacc9ull) ^
             Mix(key.hi ^ 0x4b33a62ed433d4a3ull, 0x4d5a2da51de1aa47ull)) &
            hash_and_) |
           hash_or_;
  }

  // Starts loading the bucket where a key of hash `hash` is looked for; a
  // later Find/FindOrInsert then finds it in cache. No effect on results.
  void Prefetch(uint64_t hash) const {
    if (!buckets_.empty()) __builtin_prefetch(buckets_.data() + BucketOf(hash));
  }

  // Returns the value of `key`, or -1 when absent. REQUIRES: hash == Hash(key).
  int32_t Find(const Key& key, uint64_t hash) const {
    if (buckets_.empty()) return -1;
    const Slot s = Locate(key, hash);
    return s.found ? static_cast<int32_t>(buckets_[s.bucket].value_plus1[s.entry] - 1) : -1;
  }

  // Returns the value of `key`; when absent, inserts it with `value` (>= 0),
  // returns `value` and sets *inserted. REQUIRES: hash == Hash(key).
  int32_t FindOrInsert(const Key& key, uint64_t hash, int32_t value, bool* inserted);

  // Returns the number of keys held.
  int32_t size() const { return size_; }
  // Returns the bytes held by the buckets.
  size_t MemoryBytes() const { return buckets_.capacity() * sizeof(Bucket); }
  // Removes every key and frees the buckets.
  void Clear() {
    buckets_ = std::vector<Bucket>();
    size_ = 0;
  }

  // Returns a table whose hash is (Hash & and_mask) | or_bits, so tests can
  // force every key into one bucket (and_mask 0) at either end of the array.
  static ShortIdTable WithHashMaskForTesting(uint64_t and_mask, uint64_t or_bits) {
    ShortIdTable t;
    t.hash_and_ = and_mask;
    t.hash_or_ = or_bits;
    return t;
  }

 private:
  static constexpr int kEntries = 3;
  // One cache line: three keys as (lo, hi) words and their values + 1 (0 is
  // an empty entry, so a zeroed bucket is empty). Entries fill in order.
  struct alignas(64) Bucket {
    uint64_t lo[kEntries];
    uint64_t hi[kEntries];
    uint32_t value_plus1[kEntries];
    uint32_t unused;
  };
  static_assert(sizeof(Bucket) == 64, "a bucket is one cache line");

  struct Slot {
    size_t bucket;
    int entry;
    bool found;
  };

  template <typename T>
  static T Load(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
  static uint64_t Mix(uint64_t a, uint64_t b) {
    const unsigned __int128 m = static_cast<unsigned __int128>(a) * b;
    return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
  }
  // Returns the first bucket of `hash`: its high bits scaled to the bucket
  // count (any count, not only powers of two).
  size_t BucketOf(uint64_t hash) const {
    return static_cast<size_t>((static_cast<unsigned __int128>(hash) * buckets_.size()) >> 64);
  }
  // Returns where `key` is, or the empty entry where it would go.
  // REQUIRES: !buckets_.empty() (then an empty entry always exists).
  Slot Locate(const Key& key, uint64_t hash) const {
    size_t b = BucketOf(hash);
    for (;;) {
      const Bucket& bucket = buckets_[b];
      for (int e = 0; e < kEntries; ++e) {
        if (bucket.value_plus1[e] == 0) return {b, e, false};
        if (bucket.lo[e] == key.lo && bucket.hi[e] == key.hi) return {b, e, true};
      }
      if (++b == buckets_.size()) b = 0;
    }
  }
  // Doubles the bucket count (1 at first: a map of 2 ids takes 64 bytes)
  // and reinserts every key.
  void Grow();

  std::vector<Bucket> buckets_;  // 64-byte aligned (C++17 aligned new)
  int32_t size_ = 0;
  uint64_t hash_and_ = ~uint64_t{0};
  uint64_t hash_or_ = 0;
};

}  // namespace recbandit::ranking::internal

#endif  // RECBANDIT_RANKING_SHORT_ID_TABLE_H_
