// The command table and the per-command flag checks of the recbandit CLI.
#include "services/cli/commands.h"

#include <algorithm>
#include <cstring>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "services/monitoring/build_info.h"


namespace recbandit::services {
namespace {

// Flags every command accepts (abseil's own).
const char* const kGlobalFlags[] = {"helpfull", "flagfile"};

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"gen",
       "gen interactions --users= --items= --nnz= --factors= --seed= --out= [--truth_out= "
       "--event_types=]",
       "synthetic interactions with planted structure",
       {"event_types", "factors", "items", "nnz", "out", "seed", "truth_out", "users"}, &RunGen},
      {"split", "split --input= --scheme= --test_fraction= --seed= --train_out= --test_out=",
       "train/test split of an interactions file",
       {"header", "input", "scheme", "seed", "skip_bad_lines", "test_fraction", "test_out",
        "train_out"},
       &RunSplit},
      {"train", "train --input= --out= [--algo=als|bpr --factors= --iterations= ...]",
       "train an ALS or BPR model",
       {"algo", "alpha", "binary", "cg_steps", "checkpoint_every", "compare_to", "compute_loss",
        "event_weights", "factors", "force_promotion", "gate_index_recall_users", "gate_min_coverage",
        "gate_min_index_recall", "gate_ndcg_tolerance", "gate_recall_tolerance", "header",
        "holdout", "holdout_fraction", "index", "input", "item_bias", "iterations", "k",
        "learning_rate", "metrics_k", "min_weight", "negative_sampling", "out",
        "regularization", "resume",
        "scale_regularization", "seed", "skip_bad_lines", "solver", "stop_after", "test",
        "threads"},
       &RunTrain},
      {"evaluate",
       "evaluate --model= --train= --test= [--k= --metrics_k=5,10,25 --by_event_type]",
       "ranking metrics of a model on a test file",
       {"by_event_type", "header", "k", "metrics_k", "model", "skip_bad_lines", "test",
        "threads", "train"},
       &RunEvaluate},
      {"index", "index --model= --index=<factory string>",
       "build or rebuild a model's item index (FAISS or Exact)", {"index", "model", "threads"},
       &RunIndex},
      {"recommend", "recommend --model= (--user= | --all_users --out=) --k=",
       "top K items for a user (or --all_users to a file)",
       {"all_users", "ef_search", "exclude_seen", "format", "k", "model", "nprobe", "out",
        "threads", "user"},
       &RunRecommend},
      {"similar", "similar --model= --item= --k=", "items most similar to an item",
       {"item", "k", "model"}, &RunSimilar},
      {"import",
       "import --user_factors= --item_factors= --user_ids= --item_ids= --out=<model dir> "
       "[--index=]",
       "a model from factors trained elsewhere (.npy or CSV, e.g. Spark ALS, implicit)",
       {"index", "item_factors", "item_ids", "out", "threads", "user_factors", "user_ids"},
       &RunImport},
      {"serve", "serve --data_dir= [--host= --port= --demo --metrics_port= --http_port= ...]",
       "the gRPC service (and HTTP/JSON with --http_port)",
       {"auth_token_file", "data_dir", "demo", "drain_seconds", "drift_baseline_events",
        "drift_psi_alert", "drift_psi_warn", "drift_window", "filter_scan_rows", "host", "http_port", "keep_versions",
        "log_requests", "max_message_bytes", "metrics_port", "model_memory_budget",
        "models_dir", "port", "replica_id", "rollout_check_ms", "stream", "stream_ack",
        "stream_name", "stream_replicas", "tls_cert", "tls_key"},
       &RunServe},
      {"stream", "stream --stream=nats://host:port[,...] [--stream_name=] [--out=<jsonl>]",
       "every record of the shared event stream (scale-out): counts by kind and origin, "
       "message ids stored twice; one JSON line per record with --out",
       {"out", "stream", "stream_name"}, &RunStream},
      {"monitor", "monitor --data_dir= (--model=<name> | --experiment=<name>) [--table]",
       "drift of a model's or an experiment's logged traffic against its stored baseline "
       "(PSI, Jensen-Shannon)",
       {"data_dir", "drift_baseline_events", "drift_psi_alert", "drift_psi_warn", "drift_window",
        "experiment", "model", "skip_bad_lines", "table"},
       &RunMonitor},
      {"export", "export --data_dir= (--experiment= | --deployment=) --format=jsonl|csv --out=",
       "an experiment's logged decisions, or a deployment's served slates, as CSV or JSONL",
       {"data_dir", "deployment", "experiment", "format", "out", "skip_bad_lines"}, &RunExport},
      {"log", "log repair --data_dir=",
       "recover a damaged event log (reports what it drops, keeps a copy)", {"data_dir"},
       &RunLog},
      {"ope",
       "ope (--log=<data_dir> (--experiment= | --deployment=) | --input= | --obd=) --target= "
       "[--estimators=]",
       "offline policy evaluation (IPS, SNIPS, DM, DR, ...; slate IIPS, RIPS, PI for deployments)",
       {"bootstrap", "clip", "default_reward", "deployment", "estimators", "experiment", "folds",
        "input",
        "log", "obd", "reward_model", "seed", "support_threshold", "switch_tau", "target",
        "target_pmf", "target_pmf_from"},
       &RunOpe},
      {"simulate", "simulate --env= --horizon= --runs= --policies= --out= [--plot=]",
       "bandit policies on simulated environments: regret curves",
       {"arms", "change_step", "dim", "env", "gap", "horizon", "log_x", "means", "noise_sd",
        "obd", "out", "plot", "policies", "runs", "seed", "threads"},
       &RunSimulate},
      {"loadtest",
       "loadtest --target=host:port --rpc=recommend|decide|mixed (--concurrency= | "
       "--slo_p99_ms= [--target_qps=])",
       "drive a running server with Recommend/Decide calls: QPS, latency; or ramp to the "
       "highest QPS within a p99 objective",
       {"actions", "auth_token_file", "client_threads", "concurrency", "curve_out", "deployment",
        "duration_s", "ef_search", "experiment", "headroom", "k", "max_concurrency",
        "max_error_rate", "plot", "qps", "requests", "rpc", "server_cores", "slo_p99_ms",
        "step_duration_s", "target", "target_qps", "tls_cert", "user_prefix", "users"},
       &RunLoadtest},
  };
  return *commands;
}

const Command* FindCommand(const std::string& name) {
  for (const Command& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string CommandHelp(const Command& command) {
  std::string out = absl::StrCat("usage: recbandit ", command.usage, "\n", command.summary,
                                 "\nflags:\n");
  for (const std::string& name : command.flags) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    absl::StrAppend(&out, "  --", name, " (default: ",
                    flag->DefaultValue().empty() ? "\"\"" : flag->DefaultValue(), ")\n      ",
                    flag->Help(), "\n");
  }
  return out;
}

std::string CommandTitle(const Command& command) {
  std::vector<std::string> words;
  for (absl::string_view w : absl::StrSplit(command.usage, ' ', absl::SkipEmpty())) {
    if (!std::all_of(w.begin(), w.end(), [](char c) { return absl::ascii_islower(c) || c == '_'; })) {
      break;  // a flag, "[...]", "(...)" or "<...>": the title ends here
    }
    words.emplace_back(w);
  }
  return words.empty() ? command.name : absl::StrJoin(words, " ");
}

namespace {

// Returns what kind of value `flag` takes, for messages.
const char* FlagKind(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<bool>()) return "true or false";
  if (flag.IsOfType<int32_t>()) return "a 32-bit integer";
  if (flag.IsOfType<int64_t>()) return "a 64-bit integer";
  if (flag.IsOfType<uint64_t>()) return "an unsigned 64-bit integer";
  if (flag.IsOfType<double>()) return "a number";
  return "a valid value";
}

// Returns OK when `value` parses as the value of --`name`, checked before
// abseil parses the command line (which would print its own message and exit
// without naming the command).
absl::Status CheckFlagValue(const std::string& name, const std::string& value) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) return absl::OkStatus();
  std::string error;
  const std::string current = flag->CurrentValue();
  if (!flag->ParseFrom(value, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", Quote(value), " is not ", FlagKind(*flag)));
  }
  flag->ParseFrom(current, &error);  // parsing proper happens once, later
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckCommandFlags(const Command& command, int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string token = argv[i];
    if (token == "--") break;
    if (token.size() < 2 || token[0] != '-') continue;
    std::string name = token.substr(token[1] == '-' ? 2 : 1);
    const size_t eq = name.find('=');
    const bool has_value = eq != std::string::npos;
    const std::string value = has_value ? name.substr(eq + 1) : "";
    name = name.substr(0, eq);
    const auto known = [&](const std::string& n) {
      return std::find(command.flags.begin(), command.flags.end(), n) != command.flags.end() ||
             std::any_of(std::begin(kGlobalFlags), std::end(kGlobalFlags),
                         [&](const char* g) { return n == g; });
    };
    if (known(name)) {
      if (has_value) RETURN_IF_ERROR(CheckFlagValue(name, value));
      continue;
    }
    if (absl::StartsWith(name, "no") && known(name.substr(2))) continue;  // --noflag
    if (absl::FindCommandLineFlag(name) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", name, " is not a flag of `recbandit ", command.name, "` (its flags: --",
          absl::StrJoin(command.flags, ", --"), "; see `recbandit ", command.name, " --help`)"));
    }
    std::string nearest;
    size_t best = 3;  // suggest only close matches
    for (const std::string& f : command.flags) {
      const size_t d = EditDistance(name, f);
      if (d < best) {
        best = d;
        nearest = f;
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown flag ", Quote("--" + name),
        nearest.empty() ? "" : absl::StrCat("; did you mean --", nearest, "?"),
        " (see `recbandit ", command.name, " --help`)"));
  }
  return absl::OkStatus();
}

std::string VersionString() {
  const BuildInfo& b = GetBuildInfo();
  return absl::StrCat("recbandit ", b.version, " (", b.build_type, " build, commit ", b.git_commit,
                      ", ", b.compiler, ")");
}

}  // namespace recbandit::services
