// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr
// (abseil 20220623 ships neither).
#ifndef RECBANDIT_PROTO_CORE_STATUS_MACROS_H_
#define RECBANDIT_PROTO_CORE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function with `expr`'s status when it is not OK.
#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    ::absl::Status recbandit_status_ = (expr);                  \
    if (!recbandit_status_.ok()) return recbandit_status_;      \
  } while (0)

#define RECBANDIT_CONCAT_INNER_(a, b) a##b
#define RECBANDIT_CONCAT_(a, b) RECBANDIT_CONCAT_INNER_(a, b)

// `lhs` = value of the StatusOr `rexpr`, or return its status from the
// enclosing function. `lhs` may be a declaration: ASSIGN_OR_RETURN(auto x, F());
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  RECBANDIT_ASSIGN_OR_RETURN_IMPL_(  \
      RECBANDIT_CONCAT_(recbandit_statusor_, __LINE__), lhs, rexpr)

#define RECBANDIT_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                     \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()

#endif  // RECBANDIT_PROTO_CORE_STATUS_MACROS_H_
