// Fuzzes the model artifact loader (ranking/factor_model.h): the input is
// split at "\n--\n" into the files of a model folder (manifest, id lists,
// factors, popularity, seen items); FactorModel::Load either fails with
// DATA_LOSS / NOT_FOUND or returns a model whose shapes match its manifest.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "proto/core/file_util.h"
#include "ranking/factor_model.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  if (size > 1 << 16) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts = absl::StrSplit(bytes, "\n--\n");
  parts.resize(8);
  const std::string dir = fuzz::ScratchDir() + "/model";
  (void)MakeDirs(dir);
  const char* names[] = {"manifest",         "users.txt",           "items.txt",
                         "user_factors.bin", "item_factors.bin",    "item_popularity.bin",
                         "seen_indptr.bin",  "seen_items.bin"};
  for (int i = 0; i < 8; ++i) (void)WriteFileAtomically(dir + "/" + names[i], parts[i]);
  absl::StatusOr<ranking::FactorModel> model = ranking::FactorModel::Load(dir);
  if (!model.ok()) {
    fuzz::Require(absl::IsDataLoss(model.status()) || absl::IsNotFound(model.status()) ||
                      absl::IsInvalidArgument(model.status()),
                  "a bad artifact is DATA_LOSS");
    return 0;
  }
  fuzz::Require(model->user_factors().size() ==
                    static_cast<size_t>(model->users().size()) * model->factors(),
                "user factors match the manifest");
  fuzz::Require(model->item_factors().size() ==
                    static_cast<size_t>(model->items().size()) * model->factors(),
                "item factors match the manifest");
  return 0;
}
