// Every command-line flag of the `recbandit` binary, declared in one place
// (defined in flags.cc) because subcommands share names like --seed and --out.
#ifndef RECBANDIT_SERVICES_CLI_FLAGS_H_
#define RECBANDIT_SERVICES_CLI_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"

// Data generation and splitting.
ABSL_DECLARE_FLAG(int32_t, users);
ABSL_DECLARE_FLAG(int32_t, items);
ABSL_DECLARE_FLAG(int64_t, nnz);
ABSL_DECLARE_FLAG(int32_t, factors);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, truth_out);
ABSL_DECLARE_FLAG(std::string, input);
ABSL_DECLARE_FLAG(bool, skip_bad_lines);
ABSL_DECLARE_FLAG(std::string, header);
ABSL_DECLARE_FLAG(std::string, scheme);
ABSL_DECLARE_FLAG(double, test_fraction);
ABSL_DECLARE_FLAG(std::string, train_out);
ABSL_DECLARE_FLAG(std::string, test_out);

// Training, evaluation, recommendation.
ABSL_DECLARE_FLAG(std::string, algo);
ABSL_DECLARE_FLAG(int32_t, iterations);
ABSL_DECLARE_FLAG(double, regularization);
ABSL_DECLARE_FLAG(double, alpha);
ABSL_DECLARE_FLAG(double, learning_rate);
ABSL_DECLARE_FLAG(int32_t, threads);
ABSL_DECLARE_FLAG(std::string, test);
ABSL_DECLARE_FLAG(std::string, train);
ABSL_DECLARE_FLAG(int32_t, k);
ABSL_DECLARE_FLAG(std::string, metrics_k);
ABSL_DECLARE_FLAG(std::string, event_types);
ABSL_DECLARE_FLAG(std::string, event_weights);
ABSL_DECLARE_FLAG(double, min_weight);
ABSL_DECLARE_FLAG(bool, binary);
ABSL_DECLARE_FLAG(bool, by_event_type);
ABSL_DECLARE_FLAG(std::string, index);
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, user);
ABSL_DECLARE_FLAG(bool, all_users);
ABSL_DECLARE_FLAG(bool, exclude_seen);
ABSL_DECLARE_FLAG(int32_t, ef_search);
ABSL_DECLARE_FLAG(int32_t, nprobe);
ABSL_DECLARE_FLAG(std::string, item);
ABSL_DECLARE_FLAG(std::string, solver);
ABSL_DECLARE_FLAG(int32_t, cg_steps);
ABSL_DECLARE_FLAG(bool, scale_regularization);
ABSL_DECLARE_FLAG(bool, compute_loss);
ABSL_DECLARE_FLAG(std::string, negative_sampling);
ABSL_DECLARE_FLAG(bool, item_bias);
ABSL_DECLARE_FLAG(int32_t, checkpoint_every);
ABSL_DECLARE_FLAG(int32_t, stop_after);
ABSL_DECLARE_FLAG(bool, resume);
ABSL_DECLARE_FLAG(std::string, holdout);
ABSL_DECLARE_FLAG(double, holdout_fraction);
ABSL_DECLARE_FLAG(double, gate_ndcg_tolerance);
ABSL_DECLARE_FLAG(double, gate_recall_tolerance);
ABSL_DECLARE_FLAG(double, gate_min_coverage);
ABSL_DECLARE_FLAG(double, gate_min_index_recall);
ABSL_DECLARE_FLAG(int32_t, gate_index_recall_users);
ABSL_DECLARE_FLAG(std::string, compare_to);
ABSL_DECLARE_FLAG(bool, force_promotion);
ABSL_DECLARE_FLAG(std::string, user_factors);
ABSL_DECLARE_FLAG(std::string, item_factors);
ABSL_DECLARE_FLAG(std::string, user_ids);
ABSL_DECLARE_FLAG(std::string, item_ids);

// Event log, offline evaluation, simulation.
ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, experiment);
ABSL_DECLARE_FLAG(std::string, deployment);
ABSL_DECLARE_FLAG(std::string, format);
ABSL_DECLARE_FLAG(std::string, log);
ABSL_DECLARE_FLAG(std::string, obd);
ABSL_DECLARE_FLAG(std::string, target);
ABSL_DECLARE_FLAG(std::string, target_pmf);
ABSL_DECLARE_FLAG(std::string, target_pmf_from);
ABSL_DECLARE_FLAG(std::string, estimators);
ABSL_DECLARE_FLAG(double, clip);
ABSL_DECLARE_FLAG(int32_t, bootstrap);
ABSL_DECLARE_FLAG(std::string, reward_model);
ABSL_DECLARE_FLAG(int32_t, folds);
ABSL_DECLARE_FLAG(double, switch_tau);
ABSL_DECLARE_FLAG(double, default_reward);
ABSL_DECLARE_FLAG(double, support_threshold);
ABSL_DECLARE_FLAG(std::string, env);
ABSL_DECLARE_FLAG(std::string, means);
ABSL_DECLARE_FLAG(int32_t, arms);
ABSL_DECLARE_FLAG(int32_t, dim);
ABSL_DECLARE_FLAG(double, gap);
ABSL_DECLARE_FLAG(int64_t, horizon);
ABSL_DECLARE_FLAG(int32_t, runs);
ABSL_DECLARE_FLAG(std::string, policies);
ABSL_DECLARE_FLAG(std::string, plot);
ABSL_DECLARE_FLAG(bool, log_x);
ABSL_DECLARE_FLAG(double, noise_sd);
ABSL_DECLARE_FLAG(int64_t, change_step);

// Serving and load testing.
ABSL_DECLARE_FLAG(std::string, host);
ABSL_DECLARE_FLAG(int32_t, port);
ABSL_DECLARE_FLAG(bool, demo);
ABSL_DECLARE_FLAG(int32_t, metrics_port);
ABSL_DECLARE_FLAG(int32_t, http_port);
ABSL_DECLARE_FLAG(int32_t, max_message_bytes);
ABSL_DECLARE_FLAG(int32_t, keep_versions);
ABSL_DECLARE_FLAG(int32_t, filter_scan_rows);
ABSL_DECLARE_FLAG(std::string, model_memory_budget);
ABSL_DECLARE_FLAG(int32_t, drain_seconds);
ABSL_DECLARE_FLAG(int32_t, rollout_check_ms);
ABSL_DECLARE_FLAG(std::string, stream);
ABSL_DECLARE_FLAG(std::string, replica_id);
ABSL_DECLARE_FLAG(std::string, stream_name);
ABSL_DECLARE_FLAG(int32_t, stream_replicas);
ABSL_DECLARE_FLAG(std::string, stream_ack);
ABSL_DECLARE_FLAG(std::string, models_dir);
ABSL_DECLARE_FLAG(double, drift_psi_warn);
ABSL_DECLARE_FLAG(double, drift_psi_alert);
ABSL_DECLARE_FLAG(int64_t, drift_window);
ABSL_DECLARE_FLAG(int64_t, drift_baseline_events);
ABSL_DECLARE_FLAG(bool, table);
ABSL_DECLARE_FLAG(bool, log_requests);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, auth_token_file);
ABSL_DECLARE_FLAG(std::string, rpc);
ABSL_DECLARE_FLAG(int32_t, concurrency);
ABSL_DECLARE_FLAG(double, qps);
ABSL_DECLARE_FLAG(double, duration_s);
ABSL_DECLARE_FLAG(int64_t, requests);
ABSL_DECLARE_FLAG(int32_t, actions);
ABSL_DECLARE_FLAG(std::string, user_prefix);
ABSL_DECLARE_FLAG(int32_t, client_threads);
ABSL_DECLARE_FLAG(double, slo_p99_ms);
ABSL_DECLARE_FLAG(double, target_qps);
ABSL_DECLARE_FLAG(std::string, curve_out);
ABSL_DECLARE_FLAG(double, step_duration_s);
ABSL_DECLARE_FLAG(int32_t, max_concurrency);
ABSL_DECLARE_FLAG(double, max_error_rate);
ABSL_DECLARE_FLAG(int32_t, server_cores);
ABSL_DECLARE_FLAG(double, headroom);

namespace recbandit::services {

// Returns whether --<name> was given on the command line (so a flag whose
// default means "the algorithm's default", e.g. --factors, can refuse an
// explicit 0 instead of quietly using the default). Call after parsing.
bool FlagGiven(const char* name);

// Returns --threads, or the machine's hardware threads when it is 0 (the
// default; at least 1).
int32_t ThreadsFromFlag();

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_CLI_FLAGS_H_
