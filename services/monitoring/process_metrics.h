// The Prometheus client conventions' process metrics (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_start_time_seconds, process_open_fds, process_max_fds), read from
// Linux's /proc at each scrape: prometheus-cpp 1.0 has no process collector.
#ifndef RECBANDIT_SERVICES_MONITORING_PROCESS_METRICS_H_
#define RECBANDIT_SERVICES_MONITORING_PROCESS_METRICS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace prometheus {
struct MetricFamily;
}  // namespace prometheus

namespace recbandit::services {

// One reading of a process's figures, in the conventions' units.
struct ProcessStats {
  double cpu_seconds = 0;         // user + system CPU time, seconds
  double resident_bytes = 0;      // resident set size, bytes
  double virtual_bytes = 0;       // virtual memory size, bytes
  double start_time_seconds = 0;  // start time, seconds since the Unix epoch
  double open_fds = -1;           // open file descriptors (-1: unknown)
  double max_fds = -1;            // soft limit on open descriptors (-1: unknown)
};

// Returns the figures of a /proc/<pid>/stat line `stat` (proc(5): fields 14
// utime and 15 stime in clock ticks, 22 starttime in ticks after boot, 23
// vsize in bytes, 24 rss in pages), with `ticks_per_second`, `page_size`
// bytes and the boot time `boot_time_seconds` (the btime line of /proc/stat).
// The command name (field 2) may hold spaces and parentheses: fields are
// counted after its last ')'. INVALID_ARGUMENT on a line that is not such.
absl::StatusOr<ProcessStats> ParseProcStat(absl::string_view stat, double ticks_per_second,
                                           double page_size, double boot_time_seconds);

// Returns the btime value (seconds since the epoch) of /proc/stat's text.
absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat);

// Returns this process's figures from /proc/self (stat, fd/) and
// getrlimit(RLIMIT_NOFILE). Thread-safe.
absl::StatusOr<ProcessStats> ReadProcessStats();

// Returns the six process_* families for `stats` (open_fds and max_fds left
// out when unknown).
std::vector<prometheus::MetricFamily> ProcessMetricFamilies(const ProcessStats& stats);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_MONITORING_PROCESS_METRICS_H_
