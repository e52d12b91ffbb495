// Tests of ranking/factor_import: .npy files written byte by byte (as NumPy
// writes them, no NumPy needed), CSV factor files and id lists, and every
// bad input with its own message.
#include "ranking/factor_import.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/npy_file.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::ranking {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::recbandit::testing::WriteTextFile;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Short names for the .npy helpers.
std::string Dict(const std::string& descr, const std::string& fortran,
                 const std::string& shape) {
  return ::recbandit::testing::NpyDict(descr, fortran, shape);
}
std::string Npy(const std::string& dict, const std::string& data, int major = 1) {
  return ::recbandit::testing::NpyFile(dict, data, major);
}
std::string F4(const std::vector<float>& v) { return ::recbandit::testing::Float32Bytes(v); }
std::string F8(const std::vector<double>& v) { return ::recbandit::testing::Float64Bytes(v); }

TEST(NpyTest, ReadsTheBytesNumPyWrites) {
  // np.save of np.array([[1.5, -2.25, 3], [4, 0.125, -6]], dtype="<f4"), byte for byte:
  // a 118-byte header makes the data start at byte 128.
  const std::vector<float> values = {1.5f, -2.25f, 3.0f, 4.0f, 0.125f, -6.0f};
  const std::string file = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
                           std::string(58, ' ') + "\n" + F4(values);
  ASSERT_EQ(file.size(), 128u + 24u);
  ASSERT_EQ(file, Npy(Dict("<f4", "False", "(2, 3)"), F4(values)));
  ASSERT_OK_AND_ASSIGN(const FactorMatrix m, ParseNpyMatrix(file, "f.npy"));
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.cols, 3);
  EXPECT_EQ(m.format, "npy <f4");
  EXPECT_THAT(m.values, ElementsAreArray(values));
}

TEST(NpyTest, FormatVersionsTwoAndThreeReadTheSame) {
  const std::vector<float> values = {1, 2, 3, 4};
  for (int major : {2, 3}) {
    ASSERT_OK_AND_ASSIGN(const FactorMatrix m,
                         ParseNpyMatrix(Npy(Dict("<f4", "False", "(2, 2)"), F4(values), major),
                                        "f.npy"));
    EXPECT_THAT(m.values, ElementsAreArray(values)) << major;
  }
}

TEST(NpyTest, Float64IsConvertedToFloat32) {
  const std::vector<double> values = {0.1, -1e-3, 123456.789, 1e-50};
  ASSERT_OK_AND_ASSIGN(const FactorMatrix m,
                       ParseNpyMatrix(Npy(Dict("<f8", "False", "(2, 2)"), F8(values)), "f.npy"));
  EXPECT_EQ(m.format, "npy <f8");
  EXPECT_THAT(m.values, ElementsAre(static_cast<float>(0.1), static_cast<float>(-1e-3),
                                    static_cast<float>(123456.789), 0.0f));
}

TEST(NpyTest, HeaderVariantsNumPyHasWritten) {
  const std::string data = F4({1, 2});
  // Python 2 longs, double quotes, keys in another order, no trailing comma.
  for (const std::string& dict :
       {std::string("{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }"),
        std::string("{\"shape\": (1,2), \"fortran_order\": False, \"descr\": \"<f4\"}")}) {
    ASSERT_OK_AND_ASSIGN(const FactorMatrix m, ParseNpyMatrix(Npy(dict, data), "f.npy"));
    EXPECT_EQ(m.rows, 1) << dict;
    EXPECT_EQ(m.cols, 2) << dict;
  }
}

// Returns the message of parsing `file`, which must fail with INVALID_ARGUMENT.
std::string NpyError(const std::string& file) {
  absl::StatusOr<FactorMatrix> m = ParseNpyMatrix(file, "bad.npy");
  EXPECT_THAT(m, StatusIs(absl::StatusCode::kInvalidArgument));
  return std::string(m.status().message());
}

TEST(NpyTest, EveryBadFileHasItsOwnMessage) {
  const std::string four = F4({1, 2, 3, 4});
  const std::string ok = Npy(Dict("<f4", "False", "(2, 2)"), four);
  struct Case {
    std::string label;
    std::string file;
    std::string message;
  };
  std::string bad_magic = ok;
  bad_magic[1] = 'X';
  std::string version4 = ok;
  version4[6] = 4;
  std::string past_end = ok;
  past_end[8] = '\xff';
  past_end[9] = '\xff';
  std::string deep = "{'descr': " + std::string(100, '[');
  const std::vector<Case> cases = {
      {"empty", "", "bad.npy: truncated .npy file: 0 bytes"},
      {"magic only", std::string("\x93NUMP", 5), "bad.npy: truncated .npy file: 5 bytes"},
      {"no header length", ok.substr(0, 9), "bad.npy: truncated .npy file: 9 bytes, no header"},
      {"bad magic", bad_magic, "bad.npy: not a NumPy .npy file (bad magic: it starts with "
                               "'\\x93XUMPY'"},
      {"a CSV", "1,2\n3,4\n", "bad.npy: not a NumPy .npy file (bad magic"},
      {"version 4.0", version4, "bad.npy: .npy format version 4.0 is not supported"},
      {"header length past the end", past_end,
       "bad.npy: header length 65535 runs past the end of the file (144 bytes)"},
      {"truncated data", ok.substr(0, ok.size() - 3),
       "bad.npy: truncated: the data is 13 bytes, header field 'shape' (2, 2) of '<f4' needs "
       "16"},
      {"data beyond the shape", ok + "xxxx",
       "bad.npy: size mismatch: the data is 20 bytes, header field 'shape' (2, 2) of '<f4' "
       "needs 16"},
      {"fortran order", Npy(Dict("<f4", "True", "(2, 2)"), four),
       "bad.npy: header field 'fortran_order' is True: Fortran (column-major) order is not "
       "read"},
      {"fortran order not a bool", Npy(Dict("<f4", "1", "(2, 2)"), four),
       "bad.npy: header field 'fortran_order' is '1', not True or False"},
      {"big-endian f4", Npy(Dict(">f4", "False", "(2, 2)"), four),
       "bad.npy: header field 'descr' is '>f4', big-endian"},
      {"big-endian f8", Npy(Dict(">f8", "False", "(1, 2)"), four),
       "bad.npy: header field 'descr' is '>f8', big-endian"},
      {"object array", Npy(Dict("|O", "False", "(2, 2)"), four),
       "bad.npy: header field 'descr' is '|O', an object array"},
      {"int32", Npy(Dict("<i4", "False", "(2, 2)"), four),
       "bad.npy: header field 'descr' is '<i4', not a supported dtype"},
      {"structured dtype",
       Npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", four),
       "a structured dtype; only '<f4' and '<f8' are read"},
      {"3-D", Npy(Dict("<f4", "False", "(1, 2, 2)"), four),
       "bad.npy: header field 'shape' is '(1, 2, 2)', a 3-D array; factors must be 2-D"},
      {"1-D", Npy(Dict("<f4", "False", "(4,)"), four),
       "bad.npy: header field 'shape' is '(4,)', a 1-D array"},
      {"0-D", Npy(Dict("<f4", "False", "()"), four), "a 0-D array"},
      {"huge rows", Npy(Dict("<f4", "False", "(1000000000000, 64)"), four),
       "bad.npy: header field 'shape' is '(1000000000000, 64)': 1000000000000 rows is out of "
       "range (1..2147483647)"},
      {"huge shape within bounds", Npy(Dict("<f4", "False", "(2000000000, 1024)"), four),
       "bad.npy: truncated: the data is 16 bytes, header field 'shape' (2000000000, 1024) of "
       "'<f4' needs 8192000000000"},
      {"product beyond 64 bits", Npy(Dict("<f4", "False", "(4294967296, 4294967296)"), four),
       "4294967296 factors (columns) is out of range (1..1024)"},
      {"a dimension beyond 64 bits",
       Npy(Dict("<f4", "False", "(99999999999999999999999, 2)"), four),
       "'99999999999999999999999' is not a dimension"},
      {"a negative dimension", Npy(Dict("<f4", "False", "(-2, 2)"), four),
       "'-2' is not a dimension"},
      {"zero rows", Npy(Dict("<f4", "False", "(0, 2)"), ""), "0 rows is out of range"},
      {"too many factors", Npy(Dict("<f4", "False", "(1, 5000)"), four),
       "5000 factors (columns) is out of range (1..1024)"},
      {"unknown field",
       Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", four),
       "bad.npy: header has an unknown field 'x'"},
      {"no shape", Npy("{'descr': '<f4', 'fortran_order': False}", four),
       "bad.npy: header has no 'shape' field"},
      {"repeated field",
       Npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}", four),
       "bad.npy: header repeats 'descr'"},
      {"not a dict", Npy("[1, 2]", four), "bad.npy: header: not a valid header dict (expected '{'"},
      {"unterminated string", Npy("{'descr: 1}", four), "an unterminated string"},
      {"nested too deep", Npy(deep, four), "values nested too deep"},
      {"non-ASCII header", Npy("{'descr': '<f4\xe9'}", four), "bad.npy: header is not ASCII"},
      {"NaN", Npy(Dict("<f4", "False", "(2, 2)"),
                  F4({1, 2, std::numeric_limits<float>::quiet_NaN(), 4})),
       "bad.npy: row 1 (0-based), column 0: nan is not a finite number"},
      {"inf in f8", Npy(Dict("<f8", "False", "(1, 2)"),
                        F8({1, -std::numeric_limits<double>::infinity()})),
       "bad.npy: row 0 (0-based), column 1: -inf is not a finite number"},
      {"f8 beyond float32", Npy(Dict("<f8", "False", "(1, 2)"), F8({1e300, 1})),
       "bad.npy: row 0 (0-based), column 0: 1e+300 is beyond float32's range"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(NpyError(c.file), HasSubstr(c.message)) << c.label;
  }
}

TEST(NpyTest, EveryTruncationAndEveryFlippedHeaderByteIsAnErrorOrTheMatrix) {
  const std::string ok = Npy(Dict("<f8", "False", "(3, 2)"), F8({1, 2, 3, 4, 5, 6}));
  for (size_t n = 0; n < ok.size(); ++n) {
    EXPECT_FALSE(ParseNpyMatrix(ok.substr(0, n), "t.npy").ok()) << n;
  }
  // Any byte of the header changed to any value: an error or a well-formed
  // matrix, never a crash (run under ASan by ./build.sh sanitize).
  for (size_t at = 0; at < 128; ++at) {
    for (int b = 0; b < 256; b += 7) {
      std::string file = ok;
      file[at] = static_cast<char>(b);
      absl::StatusOr<FactorMatrix> m = ParseNpyMatrix(file, "t.npy");
      if (m.ok()) {
        EXPECT_EQ(m->values.size(), static_cast<size_t>(m->rows) * m->cols);
      }
    }
  }
}

TEST(CsvMatrixTest, ReadsRowsOfFloats) {
  ASSERT_OK_AND_ASSIGN(const FactorMatrix m,
                       ParseCsvMatrix("1, -2.5,3e-2\r\n+4,5,6.25\n0.1,1e-50,1E-400", "f.csv"));
  EXPECT_EQ(m.rows, 3);
  EXPECT_EQ(m.cols, 3);
  EXPECT_EQ(m.format, "csv");
  EXPECT_THAT(m.values, ElementsAre(1, -2.5f, 3e-2f, 4, 5, 6.25f, 0.1f, 0.0f, 0.0f));
}

// Returns one CSV row of 1025 values.
std::string TooWide() {
  std::string row = "1";
  for (int i = 1; i < 1025; ++i) row += ",1";
  return row + "\n";
}

TEST(CsvMatrixTest, EveryBadFileHasItsOwnMessage) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "f.csv: no rows (an empty factor file)"},
      {"u1,1,2\n", "f.csv:1: value 1 'u1' is not a number (a factor CSV has no header and no "
                   "id column"},
      {"1,2\n3\n", "f.csv:2: expected 2 values (as line 1), got 1"},
      {"1,2\n\n3,4\n", "f.csv:2: empty line"},
      {"1,2\n3,nan\n", "f.csv:2: value 2 'nan' is not a finite number"},
      {"1,-inf\n", "f.csv:1: value 2 '-inf' is not a finite number"},
      {"1,1e39\n", "f.csv:1: value 2 '1e39' is beyond float32's range"},
      {"1,2,\n", "f.csv:1: value 3 '' is empty"},
      {"1,2x\n", "f.csv:1: value 2 '2x' is not a number"},
      {TooWide(), "f.csv:1: more than 1024 values"},
  };
  for (const auto& [text, message] : cases) {
    absl::StatusOr<FactorMatrix> m = ParseCsvMatrix(text, "f.csv");
    EXPECT_THAT(m, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message))) << text;
  }
}

TEST(IdListTest, ReadsOneIdPerLine) {
  ASSERT_OK_AND_ASSIGN(const IdMap ids,
                       ParseIdList("\xEF\xBB\xBFu1\r\n42\nuser@example.com\ncaf\xC3\xA9", "ids.txt",
                                   "user"));
  ASSERT_EQ(ids.size(), 4);
  EXPECT_EQ(ids.Name(0), "u1");
  EXPECT_EQ(ids.Name(1), "42");
  EXPECT_EQ(ids.Name(2), "user@example.com");
  EXPECT_EQ(ids.Name(3), "caf\xC3\xA9");
}

TEST(IdListTest, EveryBadListHasItsOwnMessage) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "ids.txt: no item ids (an empty file)"},
      {"a\nb\na\n", "ids.txt:3: duplicate item id 'a' (first on line 1)"},
      {"a\n\nb\n", "ids.txt:2: empty item id"},
      {"a\nb\xff\n", "ids.txt:2: item id 'b\\xff' is not valid UTF-8"},
      {"a\tb\n", "ids.txt:1: item id 'a\\x09b' holds a control character"},
      {std::string(300, 'x') + "\n", "ids.txt:1: item id 'xxxx"},
  };
  for (const auto& [text, message] : cases) {
    EXPECT_THAT(ParseIdList(text, "ids.txt", "item"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << text;
  }
  EXPECT_THAT(ParseIdList(std::string(300, 'x'), "ids.txt", "item"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("longer than 256 bytes")));
}

class ImportFactorsTest : public ::testing::Test {
 protected:
  ImportInputs Inputs() const {
    return {dir_.File("users.npy"), dir_.File("items.csv"), dir_.File("users.txt"),
            dir_.File("items.txt")};
  }
  void WriteGood() {
    WriteTextFile(dir_.File("users.npy"),
                  Npy(Dict("<f4", "False", "(2, 3)"), F4({1, 2, 3, 4, 5, 6})));
    WriteTextFile(dir_.File("items.csv"), "1,0,0\n0,1,0\n0,0,1\n");
    WriteTextFile(dir_.File("users.txt"), "u1\nu2\n");
    WriteTextFile(dir_.File("items.txt"), "i1\ni2\ni3\n");
  }
  ScratchDir dir_;
};

TEST_F(ImportFactorsTest, PairsFactorsWithIdsAndRecordsTheSource) {
  WriteGood();
  ASSERT_OK_AND_ASSIGN(const ImportedFactors f, ImportFactors(Inputs()));
  EXPECT_EQ(f.factors, 3);
  EXPECT_EQ(f.users.Name(1), "u2");
  EXPECT_EQ(f.items.Name(2), "i3");
  EXPECT_THAT(f.user_factors, ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(f.item_factors, ElementsAre(1, 0, 0, 0, 1, 0, 0, 0, 1));
  EXPECT_EQ(f.source.user_factors_format(), "npy <f4");
  EXPECT_EQ(f.source.item_factors_format(), "csv");
  EXPECT_EQ(f.source.user_ids(), dir_.File("users.txt"));
  EXPECT_NE(f.source.user_factors_crc32c(), 0u);
  EXPECT_NE(f.source.item_ids_crc32c(), 0u);
}

TEST_F(ImportFactorsTest, CountsAndDimensionsMustAgree) {
  WriteGood();
  WriteTextFile(dir_.File("users.txt"), "u1\nu2\nu3\n");
  EXPECT_THAT(ImportFactors(Inputs()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("users.npy: 2 rows, but " + dir_.File("users.txt") +
                                 " has 3 user ids (one row per id)")));
  WriteGood();
  WriteTextFile(dir_.File("items.csv"), "1,0\n0,1\n1,1\n");
  EXPECT_THAT(ImportFactors(Inputs()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("items.csv: 2 factors (columns), but " + dir_.File("users.npy") +
                                 " has 3: user and item factors must have the same dimension")));
}

TEST_F(ImportFactorsTest, MissingFilesAndDevicesAreErrorsNotHangs) {
  WriteGood();
  ImportInputs in = Inputs();
  in.item_ids = dir_.File("missing.txt");
  EXPECT_THAT(ImportFactors(in), StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.txt")));
  in = Inputs();
  in.user_factors = "/dev/zero";
  EXPECT_THAT(ImportFactors(in), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("/dev/zero is not a regular file")));
}

}  // namespace
}  // namespace recbandit::ranking
