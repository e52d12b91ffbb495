// Definitions of every `recbandit` flag (see flags.h). A default of 0 or ""
// means "the subcommand's own default", given in the help text.
#include "services/cli/flags.h"

#include <algorithm>
#include <thread>

#include "absl/flags/internal/parse.h"

ABSL_FLAG(int32_t, users, 1000, "gen: number of users");
ABSL_FLAG(int32_t, items, 500, "gen: number of items");
ABSL_FLAG(int64_t, nnz, 20000, "gen: number of interactions (lines) to draw");
ABSL_FLAG(int32_t, factors, 0,
          "gen: planted latent clusters (default 8); train: embedding "
          "dimensions (default 64)");
ABSL_FLAG(uint64_t, seed, 1,
          "random seed: same seed, same result, except train --algo=bpr with --threads "
          "above 1 (lock-free parallel updates interleave differently on every run)");
ABSL_FLAG(std::string, out, "", "output file or directory");
ABSL_FLAG(std::string, truth_out, "", "gen: also write the planted truth here");
ABSL_FLAG(std::string, event_types, "",
          "gen: event types to give the rows (a fifth column), e.g. click,purchase; each row "
          "draws one uniformly");
ABSL_FLAG(std::string, input, "",
          "interactions file: user,item[,weight[,timestamp]] (CSV, TSV or "
          "whitespace; optional header)");
ABSL_FLAG(bool, skip_bad_lines, false,
          "skip malformed input lines (their count is reported) instead of failing");
ABSL_FLAG(std::string, header, "auto", "input has a header line: auto|yes|no");
ABSL_FLAG(std::string, scheme, "random",
          "split: random | leave_last_out | user_holdout");
ABSL_FLAG(double, test_fraction, 0.2,
          "split: test share of interactions (random) or of users (user_holdout)");
ABSL_FLAG(std::string, train_out, "", "split: training file to write");
ABSL_FLAG(std::string, test_out, "", "split: test file to write");

ABSL_FLAG(std::string, algo, "als", "train: als | bpr");
ABSL_FLAG(int32_t, iterations, 0,
          "train: ALS iterations (default 15) or BPR epochs (default 100)");
ABSL_FLAG(double, regularization, -1,
          "train: L2 regularization (default ALS 0.01, BPR 0.01)");
ABSL_FLAG(double, alpha, 1.0, "train: ALS confidence scale, c = 1 + alpha * weight");
ABSL_FLAG(double, learning_rate, 0.05, "train: BPR learning rate");
ABSL_FLAG(int32_t, threads, 0,
          "worker threads (0 = one per core); ALS gives the same model at any count, BPR is "
          "reproducible under --seed only at --threads=1");
ABSL_FLAG(std::string, test, "", "train: test file for metrics");
ABSL_FLAG(std::string, train, "", "evaluate: training file (its items are filtered)");
ABSL_FLAG(int32_t, k, 10,
          "number of results; train --test and evaluate: the cut-off of \"metrics\"");
ABSL_FLAG(std::string, event_weights, "",
          "train: weight multiplier per event type (the input's fifth column), e.g. "
          "click=1,purchase=5; types not listed keep x1; each type must occur in the input");
ABSL_FLAG(double, min_weight, 0,
          "train: drop interactions whose weight (after --event_weights) is below this, "
          "e.g. 4 keeps MovieLens 4- and 5-star ratings (>= 0; rows of weight 0 are always "
          "dropped)");
ABSL_FLAG(bool, binary, false,
          "train: every kept (user, item) pair counts once with weight 1 (plain positives)");
ABSL_FLAG(bool, by_event_type, false,
          "evaluate: also report the metrics of each event type's test rows "
          "(\"by_event_type\")");
ABSL_FLAG(std::string, metrics_k, "5,10,25",
          "train --test and evaluate: more cut-offs, reported as \"metrics_at_k\" (1..16 "
          "values, each 1..1000; Personalize reports 5, 10 and 25)");
ABSL_FLAG(std::string, index, "",
          "FAISS index_factory string for the item index, e.g. Flat, HNSW32, "
          "IVF256,Flat, IVF256,PQ16");
ABSL_FLAG(std::string, model, "", "model directory");
ABSL_FLAG(std::string, user, "", "recommend: user id");
ABSL_FLAG(bool, all_users, false, "recommend: every user of the model, to --out");
ABSL_FLAG(bool, exclude_seen, true, "recommend: never return the user's items");
ABSL_FLAG(int32_t, ef_search, 0, "HNSW efSearch (0 = index default)");
ABSL_FLAG(int32_t, nprobe, 0, "IVF nprobe (0 = index default)");
ABSL_FLAG(std::string, item, "", "similar: item id");
ABSL_FLAG(std::string, solver, "cg", "train: ALS per-row solver: cg | cholesky");
ABSL_FLAG(int32_t, cg_steps, 3, "train: ALS conjugate-gradient steps per row per sweep (1..64)");
ABSL_FLAG(bool, scale_regularization, false,
          "train: ALS-WR, scale lambda by each row's interaction count");
ABSL_FLAG(bool, compute_loss, false,
          "train: report the training loss after each iteration (ALS: an extra pass)");
ABSL_FLAG(std::string, negative_sampling, "uniform",
          "train: BPR negatives: uniform | popularity");
ABSL_FLAG(bool, item_bias, false, "train: BPR learns a per-item bias");
ABSL_FLAG(int32_t, checkpoint_every, 0,
          "train: write the model to --out every N iterations (0 = only at the end)");
ABSL_FLAG(int32_t, stop_after, 0,
          "train: stop after N iterations with a checkpoint in --out, exit 1 (to be "
          "continued with --resume; 0 = off)");
ABSL_FLAG(bool, resume, false,
          "train: continue from the checkpoint in --out (same data and parameters)");
ABSL_FLAG(std::string, holdout, "",
          "train: validation holdout, time (newest interactions) | user_holdout; giving it or "
          "any --gate_* flag turns the validation gates on");
ABSL_FLAG(double, holdout_fraction, 0.1,
          "train: share of interactions (time) or users (user_holdout) held out, (0, 0.5]");
ABSL_FLAG(double, gate_ndcg_tolerance, 0,
          "train: gate: holdout NDCG@k >= the --compare_to model's minus this");
ABSL_FLAG(double, gate_recall_tolerance, 0,
          "train: gate: holdout recall@k >= the --compare_to model's minus this");
ABSL_FLAG(double, gate_min_coverage, 0, "train: gate: holdout catalogue coverage@k >= this");
ABSL_FLAG(double, gate_min_index_recall, 0,
          "train: gate: recall@k of the --index against exact search >= this");
ABSL_FLAG(int32_t, gate_index_recall_users, 500,
          "train: users sampled for --gate_min_index_recall (1..100000)");
ABSL_FLAG(std::string, compare_to, "",
          "train: the model directory the NDCG / recall gates compare with (the active one)");
ABSL_FLAG(bool, force_promotion, false,
          "train: exit 0 even when a validation gate fails (the figures are still stored)");
ABSL_FLAG(std::string, user_factors, "",
          "import: user factors trained elsewhere, users x d: NumPy .npy (C order, '<f4' or "
          "'<f8'; chosen by the .npy name or NumPy's magic bytes) or CSV (one row of d "
          "comma-separated floats per user, no header, no id column)");
ABSL_FLAG(std::string, item_factors, "",
          "import: item factors trained elsewhere, items x d, in the same formats as "
          "--user_factors");
ABSL_FLAG(std::string, user_ids, "",
          "import: user ids, one per line, line i naming row i of --user_factors");
ABSL_FLAG(std::string, item_ids, "",
          "import: item ids, one per line, line i naming row i of --item_factors");

ABSL_FLAG(std::string, data_dir, "", "service data directory (event log, models)");
ABSL_FLAG(std::string, experiment, "", "experiment name");
ABSL_FLAG(std::string, deployment, "",
          "export, loadtest, ope: deployment name (ope: slate OPE of its served slates)");
ABSL_FLAG(std::string, format, "jsonl", "export: jsonl | csv");
ABSL_FLAG(std::string, log, "", "ope: service data directory whose event log to read");
ABSL_FLAG(std::string, obd, "",
          "ope, simulate --env=obd_replay: Open Bandit Dataset campaign CSV");
ABSL_FLAG(std::string, target, "uniform",
          "ope: target policy: uniform | snapshot[:<variant>] | shadow:<spec> | a policy spec");
ABSL_FLAG(std::string, target_pmf, "", "ope: CSV of target pmfs per context key");
ABSL_FLAG(std::string, target_pmf_from, "",
          "ope: OBD CSV whose empirical item frequencies per position are the target");
ABSL_FLAG(std::string, estimators, "ips,snips,dm,dr",
          "ope: comma list of ips,clipped_ips,snips,dm,dr,sndr,switch_dr,replay");
ABSL_FLAG(double, clip, 0,
          "ope: clip importance weights of ips at this value (0 = off; reported as clipped_ips)");
ABSL_FLAG(int32_t, bootstrap, 200, "ope: bootstrap resamples for intervals (0 = normal only)");
ABSL_FLAG(std::string, reward_model, "ridge",
          "ope: reward model of dm/dr/sndr/switch_dr: ridge | logistic");
ABSL_FLAG(int32_t, folds, 5, "ope: cross-fitting folds of the reward model (>= 2)");
ABSL_FLAG(double, switch_tau, 10, "ope: Switch-DR weight threshold (DR term where w <= tau)");
ABSL_FLAG(double, default_reward, 0,
          "ope: reward of exported decisions that have none (the experiment default)");
ABSL_FLAG(double, support_threshold, 1e-3,
          "ope: warn when the target puts mass on actions logged with probability below this");
ABSL_FLAG(std::string, env, "bernoulli",
          "simulate: bernoulli|gaussian|linear|logistic|nonstationary|obd_replay");
ABSL_FLAG(std::string, means, "", "simulate: comma list of arm means");
ABSL_FLAG(int32_t, arms, 10, "simulate: number of arms");
ABSL_FLAG(int32_t, dim, 8, "simulate: context dimensions");
ABSL_FLAG(double, gap, 0.1, "simulate: gap between the best arm and the others");
ABSL_FLAG(int64_t, horizon, 10000, "simulate: steps per run");
ABSL_FLAG(int32_t, runs, 10, "simulate: independent seeded runs");
ABSL_FLAG(std::string, policies, "epsilon_greedy:epsilon=0.1,ucb1,thompson",
          "simulate: comma list of policy specs");
ABSL_FLAG(std::string, plot, "",
          "simulate: SVG chart of the curves to write; loadtest --slo_p99_ms: SVG chart of p99 "
          "(and p50) latency against QPS, the objective as a dashed line");
ABSL_FLAG(bool, log_x, true, "simulate: logarithmic x axis of --plot (false = linear)");
ABSL_FLAG(double, noise_sd, 1.0, "simulate: reward noise sd of gaussian and linear envs");
ABSL_FLAG(int64_t, change_step, 0,
          "simulate: nonstationary env: step at which the best arm swaps means with "
          "another arm (0 = horizon/2)");

ABSL_FLAG(std::string, host, "127.0.0.1", "serve: address to bind");
ABSL_FLAG(int32_t, port, 50051, "serve: gRPC port (0 = pick a free one)");
ABSL_FLAG(bool, demo, false,
          "serve: generate a demo data set, train it, create a demo experiment and simulation, "
          "then send simulated traffic to the experiment demo_banner and the deployment "
          "demo_home (once per data directory)");
ABSL_FLAG(double, drift_psi_warn, 0.1,
          "serve, monitor: a feature's drift warns at PSI >= this, in (0, 10]");
ABSL_FLAG(double, drift_psi_alert, 0.2,
          "serve, monitor: a feature's drift alerts at PSI >= this, in [drift_psi_warn, 10]");
ABSL_FLAG(int64_t, drift_window, 1000,
          "serve, monitor: live window of each drift feature, observations, 100..1000000");
ABSL_FLAG(int64_t, drift_baseline_events, 1000,
          "serve, monitor: an experiment's drift baseline is its first N decisions (and "
          "rewards), 100..1000000");
ABSL_FLAG(bool, table, false, "monitor: print a table instead of the one JSON line");
ABSL_FLAG(int32_t, metrics_port, 0,
          "serve: Prometheus metrics HTTP port, GET /metrics (0 = off, -1 = any free port)");
ABSL_FLAG(int32_t, http_port, 0,
          "serve: HTTP/JSON API port, POST /v1/<Service>/<Method> (0 = off, -1 = any free "
          "port); HTTPS with --tls_cert/--tls_key, the same --auth_token_file");
ABSL_FLAG(int32_t, drain_seconds, 0,
          "serve: after SIGTERM/SIGINT, report NOT_SERVING on grpc.health.v1 and keep serving "
          "this many seconds before draining (lets load balancers move traffic); 0..300");
ABSL_FLAG(int32_t, rollout_check_ms, 1000,
          "serve: how often canary rollouts are checked (advance, promote, roll back), "
          "milliseconds, 10..600000");
ABSL_FLAG(int32_t, filter_scan_rows, 20000,
          "serve: a catalog filter allowing at most this many of a model's items scores "
          "them exactly by a scan; more go to the item index with the rest excluded; "
          "0..100000000");
ABSL_FLAG(int32_t, keep_versions, 5,
          "serve: versions kept per model name (older ones are deleted after each training "
          "job and at start-up, never the active one); 1..1000");
ABSL_FLAG(std::string, model_memory_budget, "0",
          "serve: bytes of models kept in memory, e.g. 536870912, 512M or 2G (K, M, G, T = "
          "powers of 1024); models then load at first use and the least recently used idle "
          "ones are evicted; 0 = no budget, every model loads at start-up");
ABSL_FLAG(std::string, stream, "",
          "serve, stream: NATS JetStream servers every replica shares, "
          "nats://host:port[,nats://host:port...] (services/scale_out.md); empty = one server");
ABSL_FLAG(std::string, replica_id, "",
          "serve --stream: this replica's name, 1..64 of [A-Za-z0-9_-], unique and stable for "
          "its --data_dir");
ABSL_FLAG(std::string, stream_name, "RECBANDIT", "serve, stream: the JetStream stream's name");
ABSL_FLAG(int32_t, stream_replicas, 3,
          "serve --stream: copies of every message in the NATS cluster when the stream is "
          "created, 1..5 (3 survives losing a node)");
ABSL_FLAG(std::string, stream_ack, "local",
          "serve --stream: when Decide replies: local = after the local durable commit, "
          "stream = also after the stream's replicated acknowledgement (survives losing the "
          "replica's disk)");
ABSL_FLAG(std::string, models_dir, "",
          "serve: folder of model versions (default <data_dir>/models); with --stream, a "
          "folder every replica reads");
ABSL_FLAG(int32_t, max_message_bytes, 4 << 20,
          "serve: largest request accepted, bytes (larger: RESOURCE_EXHAUSTED)");
ABSL_FLAG(bool, log_requests, false,
          "serve: log every call as a JSON line on stderr (default: failed calls only)");
ABSL_FLAG(std::string, tls_cert, "", "serve: PEM certificate chain for TLS");
ABSL_FLAG(std::string, tls_key, "", "serve: PEM private key for TLS");
ABSL_FLAG(std::string, auth_token_file, "",
          "serve: file with a bearer token every call must carry");
ABSL_FLAG(std::string, rpc, "recommend", "loadtest: recommend | decide | mixed");
ABSL_FLAG(int32_t, concurrency, 8, "loadtest: requests in flight (at most, with --qps)");
ABSL_FLAG(double, qps, 0,
          "loadtest: open loop: start this many calls per second on a fixed schedule, latency "
          "from each scheduled start (0 = closed loop: each finished call starts the next)");
ABSL_FLAG(double, duration_s, 10, "loadtest: seconds to run");
ABSL_FLAG(int32_t, actions, 10, "loadtest: candidate actions per Decide");
ABSL_FLAG(std::string, user_prefix, "u",
          "loadtest: user ids are <prefix><n> for n in [0, --users)");
ABSL_FLAG(int32_t, client_threads, 1, "loadtest: client threads (completion queues)");
ABSL_FLAG(int64_t, requests, 0, "loadtest: stop after this many requests (0 = by duration)");
ABSL_FLAG(double, slo_p99_ms, 0,
          "loadtest: capacity ramp: the p99 latency objective, milliseconds, in (0, 10000]; "
          "measures closed-loop steps at concurrency 1, 2, 4, ... and reports the highest QPS "
          "whose p99 meets it (unset: one run at --concurrency, no ramp)");
ABSL_FLAG(double, target_qps, 0,
          "loadtest --slo_p99_ms: QPS to plan for, in (0, 1e9]: reports replicas_needed = "
          "ceil(target_qps / max_qps_within_slo) (0 = no plan)");
ABSL_FLAG(std::string, curve_out, "",
          "loadtest --slo_p99_ms: CSV of the measured steps to write");
ABSL_FLAG(double, step_duration_s, 5, "loadtest --slo_p99_ms: seconds per ramp step, (0, 600]");
ABSL_FLAG(int32_t, max_concurrency, 256,
          "loadtest --slo_p99_ms: highest concurrency the ramp measures, [1, 10000]");
ABSL_FLAG(double, max_error_rate, 0.01,
          "loadtest --slo_p99_ms: a step whose errors / requests exceed this misses the "
          "objective and ends the ramp, [0, 1]");
ABSL_FLAG(int32_t, server_cores,
          static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency())),
          "loadtest --slo_p99_ms: cores of the server machine, for qps_per_core, [1, 4096]; a "
          "client cannot see a remote server's, so the default is THIS machine's hardware "
          "threads: give the server's when it runs elsewhere");
ABSL_FLAG(double, headroom, 0.2,
          "loadtest --target_qps: share of each replica's measured capacity kept spare in "
          "replicas_with_headroom = ceil(target_qps / (max_qps_within_slo * (1 - headroom))), "
          "[0, 1)");

namespace recbandit::services {

bool FlagGiven(const char* name) {
  return absl::flags_internal::WasPresentOnCommandLine(name);
}

int32_t ThreadsFromFlag() {
  const int32_t t = absl::GetFlag(FLAGS_threads);
  if (t > 0) return t;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int32_t>(hw) : 1;
}

}  // namespace recbandit::services
