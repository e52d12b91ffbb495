// `serve --demo`: a demo data set, an ALS model with an HNSW index, a demo
// experiment and a simulation's regret curves, prepared in the data
// directory before the server starts, so a newcomer can call the rpcs at
// once; then, once it serves, simulated traffic on a second experiment and a
// deployment in canary rollout, so the dashboard has figures to show.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bandits/experiment.h"
#include "proto/core/file_util.h"
#include "proto/core/status_macros.h"
#include "ranking/als.h"
#include "ranking/factor_model.h"
#include "ranking/interactions.h"
#include "ranking/synthetic.h"
#include "ranking/train_params.h"
#include "bandits/sim/simulator.h"
#include "bandits/sim/svg_plot.h"
#include "proto/core/random.h"
#include "proto/deployments.grpc.pb.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/recommender.grpc.pb.h"
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
  RETURN_IF_ERROR(manager->Shutdown());
  // A simulation's regret curves for the dashboard's simulations page (the
  // CSV `recbandit simulate --out` writes).
  const std::string curves = absl::StrCat(data_dir, "/simulations/demo_bernoulli.csv");
  if (!PathExists(curves)) {
    std::fprintf(stderr, "demo: simulating 3 policies on a 3-armed Bernoulli bandit\n");
    bandits::EnvironmentOptions env_options;
    env_options.kind = "bernoulli";
    env_options.means = {0.04, 0.06, 0.10};  // the banner click rates of the demo traffic
    ASSIGN_OR_RETURN(std::unique_ptr<bandits::Environment> env,
                     bandits::CreateEnvironment(env_options));
    bandits::PolicyOptions po;
    po.compute_pmf = false;
    std::vector<std::string> names;
    std::vector<bandits::PolicyFactory> factories;
    for (const char* spec : {"epsilon_greedy:epsilon=0.1", "ucb1", "thompson"}) {
      ASSIGN_OR_RETURN(std::unique_ptr<bandits::Policy> probe, bandits::CreatePolicy(spec, po));
      names.push_back(probe->spec());
      factories.push_back([spec, po]() { return bandits::CreatePolicy(spec, po); });
    }
    bandits::SimulationOptions sim;
    sim.horizon = 2000;
    sim.runs = 20;
    sim.threads = 2;
    sim.seed = 7;
    ASSIGN_OR_RETURN(bandits::SimulationResult result,
                     bandits::Simulate(*env, names, factories, sim));
    RETURN_IF_ERROR(MakeDirs(absl::StrCat(data_dir, "/simulations")));
    RETURN_IF_ERROR(WriteFileAtomically(curves, bandits::CurvesCsv(result)));
  }
  return absl::OkStatus();
}

namespace {

// Returns a call's status as absl::Status.
absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// Runs `body(i)` for i in [0, n) on `threads` threads; returns the first error.
absl::Status Parallel(int n, int threads, const std::function<absl::Status(int)>& body) {
  std::atomic<int> next{0};
  absl::Mutex mu;
  absl::Status first;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        absl::Status s = body(i);
        if (!s.ok()) {
          absl::MutexLock lock(&mu);
          if (first.ok()) first = s;
          return;
        }
      }
    });
  }
  for (std::thread& t : pool) t.join();
  return first;
}

}  // namespace

absl::Status RunDemoTraffic(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& auth_token) {
  auto experiments = Experiments::NewStub(channel);
  auto deployments = Deployments::NewStub(channel);
  auto recommender = Recommender::NewStub(channel);
  const auto context = [&auth_token](grpc::ClientContext* ctx) {
    if (!auth_token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", auth_token));
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  };
  {
    grpc::ClientContext ctx;
    context(&ctx);
    ListExperimentsResponse existing;
    RETURN_IF_ERROR(
        FromGrpc(experiments->ListExperiments(&ctx, ListExperimentsRequest(), &existing)));
    for (const ExperimentConfig& e : existing.experiments()) {
      if (e.name() == "demo_banner") return absl::OkStatus();  // done at an earlier start
    }
  }
  std::fprintf(stderr, "demo: simulated traffic on experiment \"demo_banner\" and deployment "
                       "\"demo_home\"\n");
  // Banner colours clicked 4%, 6% and 10% of the time.
  CreateExperimentRequest create;
  ExperimentConfig& config = *create.mutable_config();
  config.set_name("demo_banner");
  config.set_description("demo: which banner colour to show; simulated visits, click rates "
                         "red 4%, green 6%, blue 10%");
  Variant* a = config.add_variants();
  a->set_name("thompson");
  a->set_policy_spec("thompson");
  a->set_traffic_weight(3);
  Variant* b = config.add_variants();
  b->set_name("epsilon_greedy");
  b->set_policy_spec("epsilon_greedy:epsilon=0.1");
  b->set_traffic_weight(1);
  config.add_shadow_policy_specs("ucb1");
  {
    grpc::ClientContext ctx;
    context(&ctx);
    ExperimentConfig created;
    RETURN_IF_ERROR(FromGrpc(experiments->CreateExperiment(&ctx, create, &created)));
  }
  const char* kColours[] = {"red", "green", "blue"};
  const double kClickRate[] = {0.04, 0.06, 0.10};
  RETURN_IF_ERROR(Parallel(800, 8, [&](int i) -> absl::Status {
    DecideRequest decide;
    decide.set_experiment("demo_banner");
    decide.set_event_id(absl::StrCat("demo-banner-", i));
    decide.set_unit_id(absl::StrCat("u", i));
    for (const char* colour : kColours) decide.add_actions()->set_id(colour);
    DecideResponse decided;
    {
      grpc::ClientContext ctx;
      context(&ctx);
      RETURN_IF_ERROR(FromGrpc(experiments->Decide(&ctx, decide, &decided)));
    }
    Rng rng(Mix64(1000 + i));
    const bool click = rng.Uniform() < kClickRate[decided.chosen_index()];
    RewardRequest reward;
    reward.set_experiment("demo_banner");
    reward.set_event_id(decided.event_id());
    reward.set_value(click ? 1 : 0);
    RewardResponse rewarded;
    grpc::ClientContext ctx;
    context(&ctx);
    return FromGrpc(experiments->Reward(&ctx, reward, &rewarded));
  }));
  // A deployment rolling out an exploring variant as a canary: its first
  // step lasts an hour, so the demo shows it in progress.
  CreateDeploymentRequest deploy;
  Deployment& d = *deploy.mutable_deployment();
  d.set_name("demo_home");
  d.set_description("demo: the home page's recommendations; an exploring pipeline in canary");
  DeploymentVariant* stable = d.add_variants();
  stable->set_name("stable");
  stable->mutable_pipeline()->set_model("demo@1");
  stable->set_traffic_weight(1);
  DeploymentVariant* explore = d.add_variants();
  explore->set_name("explore");
  explore->mutable_pipeline()->set_model("demo@1");
  explore->mutable_pipeline()->mutable_exploration()->set_epsilon(0.2);
  explore->set_traffic_weight(0);
  RolloutPlan& plan = *d.mutable_rollout();
  plan.set_baseline("stable");
  plan.set_canary("explore");
  for (double share : {0.25, 0.5, 1.0}) {
    RolloutStep* step = plan.add_steps();
    step->set_canary_share(share);
    step->set_min_duration_ms(3600 * 1000);
    step->set_min_events(500);
  }
  {
    grpc::ClientContext ctx;
    context(&ctx);
    Deployment created;
    RETURN_IF_ERROR(FromGrpc(deployments->CreateDeployment(&ctx, deploy, &created)));
  }
  return Parallel(400, 8, [&](int i) -> absl::Status {
    RecommendRequest request;
    request.set_deployment("demo_home");
    request.set_user(absl::StrCat("u", i % 2000));
    request.set_k(5);
    RecommendResponse served;
    {
      grpc::ClientContext ctx;
      context(&ctx);
      RETURN_IF_ERROR(FromGrpc(recommender->Recommend(&ctx, request, &served)));
    }
    Rng rng(Mix64(5000 + i));
    if (served.items_size() == 0 || rng.Uniform() >= 0.3) return absl::OkStatus();
    RewardSlateRequest click;
    click.set_deployment("demo_home");
    click.set_event_id(served.event_id());
    click.set_item(served.items(static_cast<int>(rng.UniformInt(served.items_size()))).item());
    click.set_value(1);
    RewardSlateResponse clicked;
    grpc::ClientContext ctx;
    context(&ctx);
    return FromGrpc(deployments->RewardSlate(&ctx, click, &clicked));
  });
}

}  // namespace recbandit::services
