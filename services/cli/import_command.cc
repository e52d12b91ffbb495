// `recbandit import`: factors trained elsewhere (Spark MLlib ALS, the Python
// `implicit` library, ...) as a model version with its item index, which
// `recommend`, `similar` and `serve` load exactly like a trained one.
#include <chrono>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/json.h"
#include "proto/core/progress.h"
#include "proto/core/status_macros.h"
#include "proto/reports.pb.h"
#include "ranking/factor_import.h"
#include "ranking/factor_model.h"
#include "retrieval/item_index.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"
#include "services/serving/model_builder.h"

namespace recbandit::services {

absl::Status RunImport(const CommandArgs& args) {
  ranking::ImportInputs inputs;
  inputs.user_factors = absl::GetFlag(FLAGS_user_factors);
  inputs.item_factors = absl::GetFlag(FLAGS_item_factors);
  inputs.user_ids = absl::GetFlag(FLAGS_user_ids);
  inputs.item_ids = absl::GetFlag(FLAGS_item_ids);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (inputs.user_factors.empty() || inputs.item_factors.empty() || inputs.user_ids.empty() ||
      inputs.item_ids.empty() || out.empty()) {
    return absl::InvalidArgumentError(
        "--user_factors, --item_factors, --user_ids, --item_ids and --out are required");
  }
  const std::string factory = absl::GetFlag(FLAGS_index);
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(ranking::ImportedFactors imported, ranking::ImportFactors(inputs));
  if (!factory.empty()) {  // before anything is written, as train does
    absl::Status index = retrieval::ValidateIndexFactory(factory, imported.factors,
                                                         imported.items.size());
    if (!index.ok()) return absl::InvalidArgumentError(absl::StrCat("--index: ", index.message()));
  }
  ImportReport report;
  *report.mutable_source() = imported.source;
  ASSIGN_OR_RETURN(ranking::FactorModel model,
                   MakeImportedModel(std::move(imported), ModelNameForDir(out), 1, factory));
  RETURN_IF_ERROR(model.Save(out));
  report.set_import_seconds(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  report.set_model_dir(out);
  report.set_num_users(model.num_users());
  report.set_num_items(model.num_items());
  report.set_factors(model.factors());
  if (!factory.empty()) {
    // The same build as `recbandit index`, on the model just written.
    IndexReport index;
    std::unique_ptr<ProgressReporter> progress;
    RETURN_IF_ERROR(BuildModelIndex(out, factory, ThreadsFromFlag(), &index,
                                    ReportProgressTo(absl::StrCat("index ", factory, " items"),
                                                     &progress)));
    if (progress) progress->Finish(absl::StrFormat("in %.1f s", index.build_seconds()));
    report.set_index_factory(factory);
    report.set_index_build_seconds(index.build_seconds());
  }
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

}  // namespace recbandit::services
