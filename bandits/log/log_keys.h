// The event log's key encodings (the table in bandits/log/log_format.md):
// one function per keyed column family, the big-endian numbers inside keys,
// the scan bound of a key prefix, and the printable form of a key for error
// messages. Pure functions; thread-safe.
#ifndef RECBANDIT_BANDITS_LOG_LOG_KEYS_H_
#define RECBANDIT_BANDITS_LOG_LOG_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace recbandit::bandits {

// The longest event id a caller may choose.
inline constexpr size_t kMaxEventIdBytes = 128;

// Returns a fresh event id: 32 hex digits from the clock, the pid, a counter
// and an address, mixed. Only uniqueness matters (the id is logged, so a
// draw it seeds replays from the log).
std::string NewEventId(int64_t now_us);
// Returns OK for 1..128 bytes of printable ASCII without spaces (callers
// treat "" as "generate one"); INVALID_ARGUMENT naming event_id otherwise.
absl::Status ValidateEventId(const std::string& id);

// `decisions`: experiment \0 timestamp_us (8 bytes big-endian) event_id, so a
// prefix scan of an experiment runs in time order.
std::string DecisionKey(const std::string& experiment, int64_t timestamp_us,
                        const std::string& event_id);
// `learned`: experiment \0 seq (8 bytes big-endian).
std::string SeqKey(const std::string& experiment, uint64_t seq);
// `snapshots`: experiment \0 variant \0 version (8 bytes big-endian).
std::string SnapshotKey(const std::string& experiment, const std::string& variant,
                        uint64_t version);
// `interactions`: user \0 timestamp_us arrival (8 bytes big-endian each).
std::string InteractionKey(const std::string& user, int64_t timestamp_us, uint64_t arrival);

// Appends `v` as 8 big-endian bytes (keys sort as the numbers do).
void AppendBigEndian64(uint64_t v, std::string* out);
// Reads 8 big-endian bytes at `p`.
uint64_t ReadBigEndian64(const char* p);
// Returns the smallest key greater than every key starting with `prefix`.
std::string PrefixEnd(std::string prefix);

// Returns `bytes` with non-printable bytes hex-escaped (for error messages).
std::string PrintableKey(const std::string& bytes);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_LOG_LOG_KEYS_H_
