// Bridges std::string_view and absl::string_view: Debian's abseil 20220623 is
// built with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), so
// absl::StrCat, StrSplit, SimpleAtoi... do not accept std::string_view.
#ifndef RECBANDIT_PROTO_CORE_STRING_VIEW_H_
#define RECBANDIT_PROTO_CORE_STRING_VIEW_H_

#include <string_view>

#include "absl/strings/string_view.h"

namespace recbandit {

inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view ToStd(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_STRING_VIEW_H_
