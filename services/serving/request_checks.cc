// Shared request bounds.
#include "services/serving/request_checks.h"

#include "absl/strings/str_cat.h"

namespace recbandit::services {
namespace {

// The bound of the ids CheckId checks.
constexpr size_t kMaxIdBytes = 256;

}  // namespace

absl::Status CheckId(const std::string& value, const char* field) {
  if (value.empty() || value.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must have 1..", kMaxIdBytes,
                                                   " bytes, got ", value.size()));
  }
  return absl::OkStatus();
}

absl::Status CheckCount(int n, int max, const char* field) {
  if (n > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " has ", n, " entries; at most ", max));
  }
  return absl::OkStatus();
}

absl::StatusOr<int32_t> CheckK(int32_t k) {
  if (k < 0 || k > kMaxK) {
    return absl::InvalidArgumentError(
        absl::StrCat("k must be in [1, ", kMaxK, "] (0 = 10), got ", k));
  }
  return k == 0 ? 10 : k;
}

}  // namespace recbandit::services
