// GoogleTest matchers for absl::Status / StatusOr: IsOk(), StatusIs(code[,
// message matcher]), and ASSERT_OK_AND_ASSIGN (abseil 20220623 has none).
#ifndef RECBANDIT_TESTS_TESTING_STATUS_MATCHERS_H_
#define RECBANDIT_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace recbandit::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s;
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + absl::StatusCodeToString(code) +
               " and a matching message") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

}  // namespace recbandit::testing

#define RECBANDIT_TEST_CONCAT_INNER_(a, b) a##b
#define RECBANDIT_TEST_CONCAT_(a, b) RECBANDIT_TEST_CONCAT_INNER_(a, b)

// Asserts that `rexpr` (a StatusOr) is OK and assigns its value to `lhs`.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                   \
  auto RECBANDIT_TEST_CONCAT_(statusor_, __LINE__) = (rexpr);              \
  ASSERT_TRUE(RECBANDIT_TEST_CONCAT_(statusor_, __LINE__).ok())            \
      << RECBANDIT_TEST_CONCAT_(statusor_, __LINE__).status();             \
  lhs = std::move(RECBANDIT_TEST_CONCAT_(statusor_, __LINE__)).value()

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::recbandit::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::recbandit::testing::IsOk())

#endif  // RECBANDIT_TESTS_TESTING_STATUS_MATCHERS_H_
