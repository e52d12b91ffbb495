// End-to-end tests of `recbandit import` through the built binary: .npy
// files written byte by byte become a model whose factors equal them
// exactly, which `recommend`, `similar` and the server's model store load
// like a trained one (top K equal to brute force); CSV and float64 inputs
// give the same model; every bad input is one specific line on stderr.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/reports.pb.h"
#include "ranking/factor_model.h"
#include "services/serving/model_store.h"
#include "services/serving/serving_model.h"
#include "tests/testing/npy_file.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::Float32Bytes;
using ::recbandit::testing::Float64Bytes;
using ::recbandit::testing::NpyDict;
using ::recbandit::testing::NpyFile;
using ::recbandit::testing::RunRecbandit;
using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::WriteTextFile;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr int kUsers = 6;
constexpr int kItems = 9;
constexpr int kDim = 4;

// Returns `n` x kDim factors: multiples of 1/64 in [-1, 1), so every dot
// product is exact in float32 and the scores below are all distinct.
std::vector<float> Factors(int n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n) * kDim);
  uint32_t x = seed;
  for (float& f : v) {
    x = x * 1664525u + 1013904223u;
    f = static_cast<float>(static_cast<int>((x >> 16) % 128) - 64) / 64.0f;
  }
  return v;
}

std::vector<std::string> Ids(const std::string& prefix, int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back(absl::StrCat(prefix, i));
  return ids;
}

std::string Lines(const std::vector<std::string>& ids) { return absl::StrJoin(ids, "\n") + "\n"; }

std::string Csv(const std::vector<float>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    absl::StrAppendFormat(&out, "%.9g%s", v[i], (i + 1) % kDim == 0 ? "\n" : ",");
  }
  return out;
}

float Dot(const float* a, const float* b) {
  float s = 0;
  for (int j = 0; j < kDim; ++j) s += a[j] * b[j];
  return s;
}

// Returns the `k` indexes of `scores` with the largest values, best first.
std::vector<int> TopK(const std::vector<float>& scores, int k) {
  std::vector<int> order(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  order.resize(k);
  return order;
}

template <typename Message>
Message ParseJson(const std::string& line) {
  Message m;
  google::protobuf::util::JsonParseOptions options;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &m, options);
  EXPECT_TRUE(status.ok()) << status.ToString() << ": " << line;
  return m;
}

std::string Dump(const absl::Span<const float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

class ImportCommandTest : public ::testing::Test {
 protected:
  ImportCommandTest()
      : users_(Factors(kUsers, 7)),
        items_(Factors(kItems, 11)),
        user_ids_(Ids("u", kUsers)),
        item_ids_({"i-0", "i.1", "42", "i3", "x_4", "i5", "sku-6", "i7", "Z8"}) {}

  void SetUp() override {
    WriteTextFile(File("users.npy"),
                  NpyFile(NpyDict("<f4", "False", absl::StrCat("(", kUsers, ", ", kDim, ")")),
                          Float32Bytes(users_)));
    WriteTextFile(File("items.npy"),  // format version 3.0, as NumPy writes for UTF-8 headers
                  NpyFile(NpyDict("<f4", "False", absl::StrCat("(", kItems, ", ", kDim, ")")),
                          Float32Bytes(items_), 3));
    WriteTextFile(File("users.txt"), Lines(user_ids_));
    WriteTextFile(File("items.txt"), Lines(item_ids_));
  }

  std::string File(const std::string& name) const { return dir_.File(name); }

  ::recbandit::testing::CommandResult Import(const std::string& out,
                                             const std::string& users = "users.npy",
                                             const std::string& items = "items.npy",
                                             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"import", "--user_factors=" + File(users),
                                     "--item_factors=" + File(items),
                                     "--user_ids=" + File("users.txt"),
                                     "--item_ids=" + File("items.txt"), "--out=" + out};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunRecbandit(args);
  }

  // Returns user u's brute-force scores over every item.
  std::vector<float> UserScores(int u) const {
    std::vector<float> s(kItems);
    for (int i = 0; i < kItems; ++i) s[i] = Dot(&users_[u * kDim], &items_[i * kDim]);
    return s;
  }

  ScratchDir dir_;
  std::vector<float> users_;
  std::vector<float> items_;
  std::vector<std::string> user_ids_;
  std::vector<std::string> item_ids_;
};

TEST_F(ImportCommandTest, RoundTripKeepsTheFactorsAndRecommendIsExactTopK) {
  const std::string out = File("spark");
  const auto run = Import(out, "users.npy", "items.npy", {"--index=Flat", "--threads=1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1) << run.out;
  const auto report = ParseJson<ImportReport>(run.out);
  EXPECT_EQ(report.model_dir(), out);
  EXPECT_EQ(report.num_users(), kUsers);
  EXPECT_EQ(report.num_items(), kItems);
  EXPECT_EQ(report.factors(), kDim);
  EXPECT_EQ(report.index_factory(), "Flat");
  EXPECT_EQ(report.source().user_factors_format(), "npy <f4");
  EXPECT_EQ(report.source().item_ids(), File("items.txt"));
  EXPECT_THAT(run.out, HasSubstr("\"num_users\":6"));  // snake_case keys, numbers

  // The stored model: the very bytes given, the ids in file order, a
  // manifest saying it was imported.
  ASSERT_OK_AND_ASSIGN(const ranking::FactorModel model, ranking::FactorModel::Load(out));
  EXPECT_EQ(Dump(model.user_factors()), Float32Bytes(users_));
  EXPECT_EQ(Dump(model.item_factors()), Float32Bytes(items_));
  for (int u = 0; u < kUsers; ++u) EXPECT_EQ(model.users().Name(u), user_ids_[u]);
  for (int i = 0; i < kItems; ++i) EXPECT_EQ(model.items().Name(i), item_ids_[i]);
  EXPECT_EQ(model.manifest().algo(), IMPORTED);
  EXPECT_EQ(model.manifest().params().index_factory(), "Flat");
  EXPECT_EQ(model.manifest().imported_from().item_factors_format(), "npy <f4");
  EXPECT_EQ(model.manifest().imported_from().user_factors_crc32c(),
            report.source().user_factors_crc32c());
  EXPECT_EQ(model.manifest().name(), "spark");
  EXPECT_TRUE(std::filesystem::exists(out + "/items.index"));

  for (int u = 0; u < kUsers; ++u) {
    const std::vector<float> scores = UserScores(u);
    std::vector<float> sorted = scores;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end())
        << "the test data must have distinct scores";
    const auto rec = RunRecbandit({"recommend", "--model=" + out, "--user=" + user_ids_[u],
                                   "--k=5"});
    ASSERT_EQ(rec.exit_code, 0) << rec.err;
    const auto result = ParseJson<RecommendResult>(rec.out);
    EXPECT_FALSE(result.fallback());
    const std::vector<int> expected = TopK(scores, 5);
    ASSERT_EQ(result.items_size(), 5) << rec.out;
    for (int r = 0; r < 5; ++r) {
      EXPECT_EQ(result.items(r).item(), item_ids_[expected[r]]) << "user " << u << " rank " << r;
      EXPECT_FLOAT_EQ(result.items(r).score(), scores[expected[r]]);
    }
  }

  // similar: brute force over the other items.
  const int item = 2;
  std::vector<float> scores(kItems);
  for (int i = 0; i < kItems; ++i) {
    scores[i] = i == item ? -std::numeric_limits<float>::infinity()
                          : Dot(&items_[item * kDim], &items_[i * kDim]);
  }
  const auto similar = RunRecbandit({"similar", "--model=" + out, "--item=42", "--k=3"});
  ASSERT_EQ(similar.exit_code, 0) << similar.err;
  const auto result = ParseJson<SimilarResult>(similar.out);
  EXPECT_EQ(result.item(), "42");
  const std::vector<int> expected = TopK(scores, 3);
  ASSERT_EQ(result.items_size(), 3) << similar.out;
  for (int r = 0; r < 3; ++r) EXPECT_EQ(result.items(r).item(), item_ids_[expected[r]]) << r;

  // A user the model does not know: the fallback, no error.
  const auto cold = RunRecbandit({"recommend", "--model=" + out, "--user=nobody", "--k=2"});
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  EXPECT_TRUE(ParseJson<RecommendResult>(cold.out).fallback());
}

TEST_F(ImportCommandTest, CsvAndFloat64GiveTheSameModelAsFloat32Npy) {
  WriteTextFile(File("users.csv"), Csv(users_));
  WriteTextFile(File("items.csv"), Csv(items_));
  const std::vector<double> users64(users_.begin(), users_.end());
  const std::vector<double> items64(items_.begin(), items_.end());
  WriteTextFile(File("users64.npy"),
                NpyFile(NpyDict("<f8", "False", absl::StrCat("(", kUsers, ", ", kDim, ")")),
                        Float64Bytes(users64), 2));
  WriteTextFile(File("items64.npy"),
                NpyFile(NpyDict("<f8", "False", absl::StrCat("(", kItems, ", ", kDim, ")")),
                        Float64Bytes(items64)));
  ASSERT_EQ(Import(File("from_npy")).exit_code, 0);
  const auto csv = Import(File("from_csv"), "users.csv", "items.csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(ParseJson<ImportReport>(csv.out).source().user_factors_format(), "csv");
  const auto f8 = Import(File("from_f8"), "users64.npy", "items64.npy");
  ASSERT_EQ(f8.exit_code, 0) << f8.err;
  EXPECT_EQ(ParseJson<ImportReport>(f8.out).source().item_factors_format(), "npy <f8");

  ASSERT_OK_AND_ASSIGN(const auto npy, ranking::FactorModel::Load(File("from_npy")));
  for (const char* other : {"from_csv", "from_f8"}) {
    ASSERT_OK_AND_ASSIGN(const auto m, ranking::FactorModel::Load(File(other)));
    EXPECT_EQ(Dump(m.user_factors()), Dump(npy.user_factors())) << other;
    EXPECT_EQ(Dump(m.item_factors()), Dump(npy.item_factors())) << other;
    EXPECT_EQ(m.num_users(), npy.num_users());
    EXPECT_EQ(m.items().Name(8), npy.items().Name(8));
  }
}

TEST_F(ImportCommandTest, TheServersModelStoreServesAnImportedVersion) {
  const std::string root = File("models");
  const auto run = Import(root + "/spark/1", "users.npy", "items.npy", {"--index=HNSW16"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root, 5, /*prune=*/false));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const ServingModel> model, store->Get("spark"));
  EXPECT_EQ(model->version(), 1);
  EXPECT_EQ(model->index().factory(), "HNSW16");
  RecommendQuery query;
  query.user = user_ids_[3];
  query.k = 3;
  ASSERT_OK_AND_ASSIGN(const Recommendation rec, model->Recommend(query));
  const std::vector<int> expected = TopK(UserScores(3), 3);
  ASSERT_EQ(rec.items.size(), 3u);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(rec.items[r].item, item_ids_[expected[r]]) << r;
  // Real-time events fold a new user in (default fold-in options).
  query.user = "new_user";
  query.recent_items = {"i3", "i5"};
  ASSERT_OK_AND_ASSIGN(const Recommendation folded, model->Recommend(query));
  EXPECT_FALSE(folded.fallback);
  EXPECT_EQ(folded.items.size(), 3u);
}

TEST_F(ImportCommandTest, EveryBadInputIsOneSpecificLine) {
  const std::string four = Float32Bytes(Factors(kUsers, 7));
  const std::string shape = absl::StrCat("(", kUsers, ", ", kDim, ")");
  const std::string good = NpyFile(NpyDict("<f4", "False", shape), four);
  std::string bad_magic = good;
  bad_magic[3] = 'm';
  std::string past_end = good;
  past_end[8] = '\xff';
  past_end[9] = '\x7f';
  std::vector<float> nan_users = users_;
  nan_users[2 * kDim + 1] = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    std::string label;
    std::string users_npy;  // written as bad.npy, given as --user_factors
    std::string users_txt;  // written as users.txt when not empty
    std::string message;    // after "recbandit import: "
  };
  const std::vector<Case> cases = {
      {"truncated file", good.substr(0, good.size() - 5), "",
       "bad.npy: truncated: the data is 91 bytes, header field 'shape' (6, 4) of '<f4' needs 96"},
      {"bad magic", bad_magic, "", "bad.npy: not a NumPy .npy file (bad magic"},
      {"header length beyond the file", past_end, "",
       "bad.npy: header length 32767 runs past the end of the file"},
      {"fortran_order True", NpyFile(NpyDict("<f4", "True", shape), four), "",
       "bad.npy: header field 'fortran_order' is True"},
      {"big-endian", NpyFile(NpyDict(">f4", "False", shape), four), "",
       "bad.npy: header field 'descr' is '>f4', big-endian"},
      {"3-D shape", NpyFile(NpyDict("<f4", "False", "(6, 2, 2)"), four), "",
       "bad.npy: header field 'shape' is '(6, 2, 2)', a 3-D array"},
      {"huge declared shape", NpyFile(NpyDict("<f4", "False", "(2147483647, 1024)"), four), "",
       "bad.npy: truncated: the data is 96 bytes, header field 'shape' (2147483647, 1024) of "
       "'<f4' needs 8796093018112"},
      {"shape beyond a model", NpyFile(NpyDict("<f4", "False", "(9223372036854775807, 4)"), four),
       "", "rows is out of range (1..2147483647)"},
      {"rows and ids disagree", good, "u0\nu1\nu2\n",
       "bad.npy: 6 rows, but " + File("users.txt") + " has 3 user ids (one row per id)"},
      {"dimensions disagree", NpyFile(NpyDict("<f4", "False", "(6, 2)"), four.substr(0, 48)), "",
       "items.npy: 4 factors (columns), but " + File("bad.npy") + " has 2"},
      {"NaN", NpyFile(NpyDict("<f4", "False", shape), Float32Bytes(nan_users)), "",
       "bad.npy: row 2 (0-based), column 1: nan is not a finite number"},
      {"duplicate id", good, "u0\nu1\nu2\nu1\nu4\nu5\n",
       "users.txt:4: duplicate user id 'u1' (first on line 2)"},
  };
  for (const Case& c : cases) {
    WriteTextFile(File("bad.npy"), c.users_npy);
    WriteTextFile(File("users.txt"), c.users_txt.empty() ? Lines(user_ids_) : c.users_txt);
    const auto run = Import(File("out_" + std::to_string(&c - cases.data())), "bad.npy");
    EXPECT_EQ(run.exit_code, 1) << c.label;
    EXPECT_EQ(run.out, "") << c.label;
    EXPECT_THAT(run.err, StartsWith("recbandit import: ")) << c.label;
    EXPECT_THAT(run.err, HasSubstr(c.message)) << c.label;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << c.label << ": " << run.err;
    EXPECT_FALSE(std::filesystem::exists(File("out_" + std::to_string(&c - cases.data()))))
        << c.label << ": nothing is written";
  }
  WriteTextFile(File("users.txt"), Lines(user_ids_));

  const auto missing = RunRecbandit({"import", "--user_factors=" + File("users.npy"),
                                     "--out=" + File("o")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err,
            "recbandit import: --user_factors, --item_factors, --user_ids, --item_ids and --out "
            "are required\n");
  const auto pq = Import(File("o"), "users.npy", "items.npy", {"--index=PQ3"});
  EXPECT_EQ(pq.exit_code, 1);
  EXPECT_THAT(pq.err, StartsWith("recbandit import: --index: index factory 'PQ3': PQ's m must "
                                 "divide the dimension 4, got 3"));
  std::filesystem::create_directories(File("not_a_model"));
  WriteTextFile(File("not_a_model/keep.txt"), "precious\n");
  const auto clobber = Import(File("not_a_model"));
  EXPECT_EQ(clobber.exit_code, 1);
  EXPECT_THAT(clobber.err, HasSubstr("exists and is not a model directory"));
  EXPECT_TRUE(std::filesystem::exists(File("not_a_model/keep.txt")));
}

}  // namespace
}  // namespace recbandit::services
