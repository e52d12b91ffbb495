// The event log's key encodings (bandits/log/log_format.md).
#include "bandits/log/log_keys.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/random.h"

namespace recbandit::bandits {

std::string NewEventId(int64_t now_us) {
  static std::atomic<uint64_t> counter{0};
  const uint64_t c = counter.fetch_add(1, std::memory_order_relaxed);
  const uint64_t a = Mix64(static_cast<uint64_t>(now_us) ^ (static_cast<uint64_t>(getpid()) << 40));
  const uint64_t b = Mix64(c ^ reinterpret_cast<uintptr_t>(&counter) ^ Mix64(a));
  return absl::StrFormat("%016x%016x", a, b);
}

absl::Status ValidateEventId(const std::string& id) {
  if (id.size() > kMaxEventIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("event_id has ", id.size(), " bytes; at most ", kMaxEventIdBytes));
  }
  for (unsigned char c : id) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError("event_id must be printable ASCII without spaces");
    }
  }
  return absl::OkStatus();
}

void AppendBigEndian64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

uint64_t ReadBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\xff');  // not reached for our non-empty prefixes
}

std::string DecisionKey(const std::string& experiment, int64_t timestamp_us,
                        const std::string& event_id) {
  std::string key;
  key.reserve(experiment.size() + 9 + event_id.size());
  key.append(experiment);
  key.push_back('\0');
  AppendBigEndian64(static_cast<uint64_t>(timestamp_us), &key);
  key.append(event_id);
  return key;
}

std::string SeqKey(const std::string& experiment, uint64_t seq) {
  std::string key = experiment;
  key.push_back('\0');
  AppendBigEndian64(seq, &key);
  return key;
}

std::string SnapshotKey(const std::string& experiment, const std::string& variant,
                        uint64_t version) {
  std::string key = experiment;
  key.push_back('\0');
  key.append(variant);
  key.push_back('\0');
  AppendBigEndian64(version, &key);
  return key;
}

std::string InteractionKey(const std::string& user, int64_t timestamp_us, uint64_t arrival) {
  std::string key = user;
  key.push_back('\0');
  AppendBigEndian64(static_cast<uint64_t>(timestamp_us), &key);
  AppendBigEndian64(arrival, &key);
  return key;
}

std::string PrintableKey(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    }
  }
  return out;
}

}  // namespace recbandit::bandits
