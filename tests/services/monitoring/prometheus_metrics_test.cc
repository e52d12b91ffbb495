// Tests for services/monitoring/prometheus_metrics.h and process_metrics.h:
// the /proc parsers on hand-written lines, this process's own figures against
// the system calls that define them, and the exposition's label names
// (grpc_service, grpc_method, grpc_code; readable states; build info).
#include "services/monitoring/prometheus_metrics.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/monitoring/build_info.h"
#include "services/monitoring/process_metrics.h"
#include "services/rpc/call.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// Fields 1..24 of a proc(5) stat line; the command name holds ") (" to
// show that fields are counted after its last ')'.
constexpr char kStat[] =
    "4242 (odd) (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
    "250 150 0 0 20 0 3 0 1000 52428800 2560 18446744073709551615 1 1 0 0 0\n";

TEST(ProcessMetricsTest, ParsesStatFieldsInTheirUnits) {
  // utime 250 + stime 150 ticks at 100/s = 4 s; starttime 1000 ticks = 10 s
  // after a boot at 1.7e9; vsize 52428800 bytes; rss 2560 pages of 4096.
  absl::StatusOr<ProcessStats> s = ParseProcStat(kStat, 100, 4096, 1.7e9);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1.7e9 + 10);
  EXPECT_DOUBLE_EQ(s->virtual_bytes, 52428800);
  EXPECT_DOUBLE_EQ(s->resident_bytes, 2560.0 * 4096);
}

TEST(ProcessMetricsTest, RefusesLinesThatAreNotStat) {
  EXPECT_THAT(ParseProcStat("no parenthesis here", 100, 4096, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseProcStat("1 (short) S 1 2 3", 100, 4096, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseBootTime("cpu 1 2 3\nintr 5\n"), StatusIs(absl::StatusCode::kInvalidArgument));
  absl::StatusOr<double> boot = ParseBootTime("cpu 1 2 3\nbtime 1765000000\nprocesses 9\n");
  ASSERT_TRUE(boot.ok());
  EXPECT_DOUBLE_EQ(*boot, 1765000000);
}

TEST(ProcessMetricsTest, OwnFiguresMatchTheSystemCalls) {
  absl::StatusOr<ProcessStats> before = ReadProcessStats();
  ASSERT_TRUE(before.ok()) << before.status();
  const int fd = open("/proc/self/stat", O_RDONLY);
  ASSERT_GE(fd, 0);
  absl::StatusOr<ProcessStats> after = ReadProcessStats();
  close(fd);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->open_fds, before->open_fds + 1);
  struct rlimit limit;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(after->max_fds, static_cast<double>(limit.rlim_cur));
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(after->start_time_seconds, now + 1);
  EXPECT_GT(after->start_time_seconds, now - 24 * 3600);
  EXPECT_GT(after->resident_bytes, 0);
  EXPECT_GE(after->virtual_bytes, after->resident_bytes);
  EXPECT_GE(after->cpu_seconds, before->cpu_seconds);
}

TEST(RpcLabelsTest, EveryRpcHasItsService) {
  for (const RpcLabel& label : RpcLabels()) {
    EXPECT_NE(label.service, "unknown") << label.method;
    if (label.method == "Recommend") EXPECT_EQ(label.service, "recbandit.Recommender");
    if (label.method == "Decide") EXPECT_EQ(label.service, "recbandit.Experiments");
    if (label.method == "RewardSlate") EXPECT_EQ(label.service, "recbandit.Deployments");
  }
}

TEST(ServerMetricsTest, ExpositionUsesGrpcEcosystemLabelsAndReadableStates) {
  absl::StatusOr<std::unique_ptr<ServerMetrics>> m = ServerMetrics::Create(
      {{"recbandit.Recommender", "Recommend"}, {"recbandit.Experiments", "Decide"}});
  ASSERT_TRUE(m.ok());
  (*m)->RecordRpc(0, 3, 0.001);  // INVALID_ARGUMENT
  (*m)->RecordRpc(1, 0, 0.001);
  (*m)->SetJobs("JOB_STATE_NOT_PROMOTED", 2);
  (*m)->SetDriftAlert("model", "demo", 1, "DRIFT_STATE_WARN");
  const std::string text = (*m)->Scrape();
  EXPECT_THAT(text, HasSubstr("recbandit_rpc_errors_total{grpc_code=\"INVALID_ARGUMENT\","
                              "grpc_method=\"Recommend\",grpc_service=\"recbandit.Recommender\"} 1"));
  EXPECT_THAT(text, HasSubstr("recbandit_rpc_requests_total{grpc_method=\"Decide\","
                              "grpc_service=\"recbandit.Experiments\"} 1"));
  EXPECT_THAT(text, HasSubstr("recbandit_training_jobs{state=\"not_promoted\"} 2"));
  EXPECT_THAT(text, HasSubstr("recbandit_drift_alert{kind=\"model\",subject=\"demo\"} 1"));
  EXPECT_THAT(text, HasSubstr("recbandit_drift_state{kind=\"model\",state=\"warn\",subject=\"demo\"} 1"));
  EXPECT_THAT(text, HasSubstr("recbandit_drift_state{kind=\"model\",state=\"ok\",subject=\"demo\"} 0"));
  const BuildInfo& b = GetBuildInfo();
  EXPECT_THAT(text, HasSubstr("recbandit_build_info{build_type=\"" + b.build_type +
                              "\",compiler=\"" + b.compiler + "\",git_commit=\"" + b.git_commit +
                              "\",version=\"" + b.version + "\"} 1"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter"));
  for (const char* name : {"process_resident_memory_bytes", "process_virtual_memory_bytes",
                           "process_start_time_seconds", "process_open_fds", "process_max_fds"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + name + " gauge")) << name;
  }
  EXPECT_THAT(text, Not(HasSubstr("rpc=\"")));
}

}  // namespace
}  // namespace recbandit::services
