// Tests for the one name rule, bounded quoting of input in messages, the
// UTF-8 check and the HTML escaper.
#include "proto/core/names.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace recbandit {
namespace {

using ::recbandit::testing::IsOk;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ValidateNameTest, AcceptsNamesThatStartWithALetterOrDigit) {
  for (const char* name : {"demo", "a", "0", "Model_v2.1-rc", "9lives", "a..b"}) {
    EXPECT_THAT(ValidateName(name, "model_name"), IsOk()) << name;
  }
  EXPECT_THAT(ValidateName(std::string(kMaxNameBytes, 'x'), "name"), IsOk());
}

TEST(ValidateNameTest, RejectsDotNamesPathsAndFlagsNamingTheField) {
  // "." and ".." would name the models folder or its parent.
  for (const char* name : {".", "..", ".hidden", "-rf", "_x", "a/b", "../x", "a b", "a\\b"}) {
    EXPECT_THAT(ValidateName(name, "model_name"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("model_name")))
        << name;
  }
  EXPECT_THAT(ValidateName("", "variants[2].name"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("variants[2].name")));
  EXPECT_THAT(ValidateName(std::string("a\0b", 3), "name"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateName(std::string(kMaxNameBytes + 1, 'x'), "name"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("1..64")));
}

TEST(ValidateNameTest, NeverEchoesMoreThanABoundedPrefix) {
  const absl::Status s = ValidateName("a" + std::string(8000, '/'), "name");
  EXPECT_LT(s.message().size(), 200u);
}

TEST(QuoteTest, BoundsLongInputAndSaysHowLongItWas) {
  const std::string q = Quote(std::string(8192, 'x'));
  EXPECT_EQ(q, "'" + std::string(64, 'x') + "'...(8192 bytes)");
  EXPECT_EQ(Quote("abc"), "'abc'");
  EXPECT_EQ(Quote(""), "''");
}

TEST(PathForMessageTest, ShowsRealPathsPlainlyAndBoundsTheRest) {
  EXPECT_EQ(PathForMessage("models/als/items.txt"), "models/als/items.txt");
  const std::string long_path(10000, 'x');
  EXPECT_EQ(PathForMessage(long_path), "'" + std::string(256, 'x') + "'...(10000 bytes)");
  EXPECT_EQ(PathForMessage("a\nb"), "'a\\x0ab'");
  EXPECT_EQ(PathForMessage("d\xff"), "'d\\xff'");
}

TEST(QuoteTest, EscapesControlsQuotesAndInvalidUtf8) {
  EXPECT_EQ(Quote("a'b\\c\n"), "'a\\x27b\\x5cc\\x0a'");
  EXPECT_EQ(Quote("\xff\xfe"), "'\\xff\\xfe'");
  EXPECT_EQ(Quote("caf\xc3\xa9"), "'caf\xc3\xa9'");  // valid UTF-8 stays
  // A character is never cut in half at the bound.
  EXPECT_EQ(Quote("ab\xc3\xa9", 3), "'ab'...(4 bytes)");
  EXPECT_TRUE(IsValidUtf8(Quote(std::string("\xe2\x82", 2) + std::string(100, '\xc0'))));
}

TEST(BoundedMessageTest, KeepsShortValidTextAndBoundsTheRest) {
  EXPECT_EQ(BoundedMessage("unknown model 'x'\nsecond line"), "unknown model 'x'\nsecond line");
  const std::string cut = BoundedMessage(std::string(5000, 'y'), 1024);
  EXPECT_EQ(cut, std::string(1024, 'y') + "...(5000 bytes)");
  EXPECT_EQ(BoundedMessage("bad \xff byte"), "bad \\xff byte");
}

TEST(IsValidUtf8Test, AgreesWithTheStandardOnEdgeCases) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("ascii"));
  EXPECT_TRUE(IsValidUtf8("\xc2\x80"));              // U+0080
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));          // U+D7FF
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));             // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));         // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));         // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));     // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));             // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));                 // lone continuation
}

TEST(HtmlEscapeTest, EscapesMarkupQuotesAndBadBytes) {
  EXPECT_EQ(HtmlEscape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;");
  EXPECT_EQ(HtmlEscape("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // UTF-8 kept
  EXPECT_EQ(HtmlEscape("a\xff" "b"), "a\xef\xbf\xbd" "b");  // invalid byte: U+FFFD
  EXPECT_EQ(HtmlEscape(std::string("a\0b\x01\tc\n", 7)), "ab\tc\n");  // controls dropped
  EXPECT_EQ(HtmlEscape(""), "");
  EXPECT_TRUE(IsValidUtf8(HtmlEscape("\xc3\x28\xed\xa0\x80")));
}

}  // namespace
}  // namespace recbandit
