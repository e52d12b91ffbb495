// `serve --demo`: a demo data set, an ALS model with an HNSW index and a demo
// experiment, prepared in the data directory before the server starts, so a
// newcomer can call the rpcs at once.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "bandits/experiment.h"
#include "proto/core/file_util.h"
#include "proto/core/status_macros.h"
#include "ranking/als.h"
#include "ranking/factor_model.h"
#include "ranking/interactions.h"
#include "ranking/synthetic.h"
#include "ranking/train_params.h"
#include "services/cli/cli.h"
#include "services/serving/model_builder.h"

namespace recbandit::services {

absl::Status PrepareDemo(const std::string& data_dir) {
  const std::string model_dir = absl::StrCat(data_dir, "/models/demo/1");
  if (!PathExists(model_dir)) {
    std::fprintf(stderr, "demo: generating 2,000 users x 1,000 items, 60,000 interactions\n");
    ranking::SyntheticOptions gen;
    gen.users = 2000;
    gen.items = 1000;
    gen.nnz = 60000;
    gen.factors = 16;
    gen.seed = 7;
    ASSIGN_OR_RETURN(ranking::SyntheticData data, ranking::GenerateInteractions(gen));
    RETURN_IF_ERROR(MakeDirs(absl::StrCat(data_dir, "/demo")));
    RETURN_IF_ERROR(
        ranking::WriteInteractions(absl::StrCat(data_dir, "/demo/interactions.csv"), data.log));
    const ranking::Interactions interactions = ranking::Interactions::FromLog(data.log);
    ranking::AlsOptions als;
    als.factors = 32;
    als.iterations = 10;
    als.threads = 2;
    std::fprintf(stderr, "demo: training ALS (32 factors, 10 iterations)\n");
    ASSIGN_OR_RETURN(ranking::FactorState state, ranking::AlsTrainer(als).Fit(interactions));
    ASSIGN_OR_RETURN(ranking::FactorModel model,
                     MakeVersionedModel(interactions, ranking::AlsOptionsToParams(als), state,
                                        "demo", 1, nullptr));
    RETURN_IF_ERROR(MakeDirs(absl::StrCat(data_dir, "/models/demo")));
    RETURN_IF_ERROR(model.Save(model_dir));
    RETURN_IF_ERROR(BuildModelIndex(model_dir, "HNSW32", 2, nullptr));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<bandits::ExperimentManager> manager,
                   bandits::ExperimentManager::Open(data_dir, {}));
  if (!manager->GetExperiment("demo_layout").ok()) {
    ExperimentConfig config;
    config.set_name("demo_layout");
    config.set_description("demo: which page layout to show; reward 1 on a click");
    Variant* a = config.add_variants();
    a->set_name("epsilon_greedy");
    a->set_policy_spec("epsilon_greedy:epsilon=0.1");
    a->set_traffic_weight(1);
    Variant* b = config.add_variants();
    b->set_name("thompson");
    b->set_policy_spec("thompson");
    b->set_traffic_weight(1);
    config.add_shadow_policy_specs("ucb1");
    RETURN_IF_ERROR(manager->CreateExperiment(config).status());
  }
  return manager->Shutdown();
}

}  // namespace recbandit::services
