// Process metrics from /proc/self/stat, /proc/stat, /proc/self/fd and the
// descriptor limit, as prometheus-cpp metric families.
#include "services/monitoring/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include <prometheus/metric_family.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {
namespace {

// Returns the whole of a /proc file (their stat size is 0, so it is read to
// the end rather than by size), at most 1 MB.
absl::StatusOr<std::string> ReadProcFile(const char* path) {
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return absl::UnavailableError(absl::StrCat("cannot open ", path));
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0 && text.size() < (1 << 20)) {
    text.append(buf, n);
  }
  std::fclose(f);
  return text;
}

// Returns the entries of /proc/self/fd (the directory's own descriptor
// included, as other clients count it), or -1.
double CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

prometheus::MetricFamily Family(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(m);
  return f;
}

}  // namespace

absl::StatusOr<ProcessStats> ParseProcStat(absl::string_view stat, double ticks_per_second,
                                           double page_size, double boot_time_seconds) {
  const size_t close = stat.rfind(')');
  if (close == absl::string_view::npos || ticks_per_second <= 0) {
    return absl::InvalidArgumentError("not a /proc/<pid>/stat line (no command name)");
  }
  // Fields from 3 (state) on; fields[i] is field i + 3.
  const std::vector<absl::string_view> fields =
      absl::StrSplit(stat.substr(close + 1), ' ', absl::SkipWhitespace());
  auto field = [&fields](int number, double* out) {
    const int i = number - 3;
    return i < static_cast<int>(fields.size()) &&
           absl::SimpleAtod(absl::StripAsciiWhitespace(fields[i]), out);
  };
  double utime, stime, starttime, vsize, rss;
  if (!field(14, &utime) || !field(15, &stime) || !field(22, &starttime) ||
      !field(23, &vsize) || !field(24, &rss)) {
    return absl::InvalidArgumentError("not a /proc/<pid>/stat line (fields 14-24)");
  }
  ProcessStats s;
  s.cpu_seconds = (utime + stime) / ticks_per_second;
  s.start_time_seconds = boot_time_seconds + starttime / ticks_per_second;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * page_size;
  return s;
}

absl::StatusOr<double> ParseBootTime(absl::string_view proc_stat) {
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    double value;
    if (absl::ConsumePrefix(&line, "btime ") &&
        absl::SimpleAtod(absl::StripAsciiWhitespace(line), &value)) {
      return value;
    }
  }
  return absl::InvalidArgumentError("no btime line in /proc/stat");
}

absl::StatusOr<ProcessStats> ReadProcessStats() {
  ASSIGN_OR_RETURN(const std::string stat, ReadProcFile("/proc/self/stat"));
  ASSIGN_OR_RETURN(const std::string system, ReadProcFile("/proc/stat"));
  ASSIGN_OR_RETURN(const double boot, ParseBootTime(system));
  ASSIGN_OR_RETURN(ProcessStats s,
                   ParseProcStat(stat, static_cast<double>(sysconf(_SC_CLK_TCK)),
                                 static_cast<double>(sysconf(_SC_PAGESIZE)), boot));
  s.open_fds = CountOpenFds();
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    s.max_fds = limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<double>(limit.rlim_cur);
  }
  return s;
}

std::vector<prometheus::MetricFamily> ProcessMetricFamilies(const ProcessStats& s) {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out = {
      Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
             MetricType::Counter, s.cpu_seconds),
      Family("process_resident_memory_bytes", "Resident memory size in bytes.",
             MetricType::Gauge, s.resident_bytes),
      Family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
             s.virtual_bytes),
      Family("process_start_time_seconds",
             "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
             s.start_time_seconds)};
  if (s.open_fds >= 0) {
    out.push_back(Family("process_open_fds", "Number of open file descriptors.",
                         MetricType::Gauge, s.open_fds));
  }
  if (s.max_fds >= 0) {
    out.push_back(Family("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, s.max_fds));
  }
  return out;
}

}  // namespace recbandit::services
