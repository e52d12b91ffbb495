// ShortIdTable's insertion and growth (lookups are inline in the header).
#include "ranking/short_id_table.h"

#include <algorithm>

namespace recbandit::ranking::internal {

int32_t ShortIdTable::FindOrInsert(const Key& key, uint64_t hash, int32_t value,
                                   bool* inserted) {
  *inserted = false;
  Slot slot{0, 0, false};
  if (!buckets_.empty()) {
    slot = Locate(key, hash);
    if (slot.found) return static_cast<int32_t>(buckets_[slot.bucket].value_plus1[slot.entry] - 1);
  }
  // At most 3/4 of the entries in use: probes stay short and Locate always
  // meets an empty entry.
  if ((static_cast<size_t>(size_) + 1) * 4 > buckets_.size() * kEntries * 3) {
    Grow();
    slot = Locate(key, hash);
  }
  Bucket& bucket = buckets_[slot.bucket];
  bucket.lo[slot.entry] = key.lo;
  bucket.hi[slot.entry] = key.hi;
  bucket.value_plus1[slot.entry] = static_cast<uint32_t>(value) + 1;
  ++size_;
  *inserted = true;
  return value;
}

void ShortIdTable::Grow() {
  std::vector<Bucket> old(std::max<size_t>(1, 2 * buckets_.size()), Bucket{});
  old.swap(buckets_);
  for (const Bucket& bucket : old) {
    for (int e = 0; e < kEntries && bucket.value_plus1[e] != 0; ++e) {
      const Key key{bucket.lo[e], bucket.hi[e]};
      const Slot slot = Locate(key, Hash(key));  // keys are distinct: an empty entry
      Bucket& to = buckets_[slot.bucket];
      to.lo[slot.entry] = key.lo;
      to.hi[slot.entry] = key.hi;
      to.value_plus1[slot.entry] = bucket.value_plus1[e];
    }
  }
}

}  // namespace recbandit::ranking::internal
