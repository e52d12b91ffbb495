// Tests of the generic x-y chart (RenderXySvg): one path per series, the
// reference lines, axes from 0, interval bands, escaping, and empty input;
// and of reading curves back (ParseCurvesCsv). The simulation chart
// (RenderSvg) is tested with the simulator (simulator_test.cc).
#include "bandits/sim/svg_plot.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace recbandit::bandits {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

XyChart TwoSeries() {
  XyChart chart;
  chart.title = "Capacity";
  chart.subtitle = "a & b";
  chart.x_label = "QPS";
  chart.y_label = "ms";
  chart.series = {{"p99", {{100, 1, "c=1"}, {200, 3}, {250, 12}}},
                  {"p50", {{100, 0.5}, {200, 1}}}};
  chart.lines = {{"objective <= 10 ms", 10}};
  return chart;
}

TEST(XySvgTest, OnePathPerSeriesACirclePerPointAndTheReferenceLines) {
  const std::string svg = RenderXySvg(TwoSeries(), PlotOptions{});
  EXPECT_TRUE(absl::StartsWith(svg, "<?xml version=\"1.0\""));
  EXPECT_TRUE(absl::EndsWith(svg, "</svg>\n"));
  EXPECT_EQ(Count(svg, "<path class=\"line\""), 2);
  EXPECT_EQ(Count(svg, "<circle"), 5);
  EXPECT_EQ(Count(svg, "class=\"reference\""), 1);
  EXPECT_THAT(svg, HasSubstr("<title>p99</title>"));
  EXPECT_THAT(svg, HasSubstr("r=\"3\"><title>c=1</title></circle>"));
  EXPECT_THAT(svg, HasSubstr("<title>objective &lt;= 10 ms</title>"));
  EXPECT_THAT(svg, HasSubstr("a &amp; b"));
  EXPECT_THAT(svg, Not(HasSubstr("a & b")));
  EXPECT_THAT(svg, HasSubstr(">QPS</text>"));
}

TEST(XySvgTest, AxesStartAtZeroAndCoverPointsAndLines) {
  XyChart chart = TwoSeries();
  chart.lines[0].y = 40;  // above every point: the y axis still reaches it
  const std::string svg = RenderXySvg(chart, PlotOptions{});
  // Default frame: plot area x 80..650, y 50..500. The y axis ends at 45
  // (40 + 5% = 42, rounded up to a tick of 5), so the line at 40 is drawn at
  // y = 50 + 450 * (1 - 40/45) = 100.
  EXPECT_THAT(svg, HasSubstr("class=\"reference\" x1=\"80.00\" y1=\"100.00\" x2=\"650.00\" "
                             "y2=\"100.00\""));
  // The x axis ends at 300 (262.5 rounded up to a tick of 50): the last
  // point, at 250, is drawn at x = 80 + 570 * 250/300 = 555.
  EXPECT_THAT(svg, HasSubstr(" L555.00,"));
  EXPECT_THAT(svg, HasSubstr(">0</text>"));
  EXPECT_THAT(svg, HasSubstr(">300</text>"));
}

TEST(XySvgTest, EmptyAndNonFiniteInputStillMakeADocument) {
  XyChart chart;
  chart.series = {{"nothing", {}},
                  {"nan", {{std::nan(""), 1}, {1, std::numeric_limits<double>::infinity()}}}};
  chart.lines = {{"nan line", std::nan("")}};
  const std::string svg = RenderXySvg(chart, PlotOptions{});
  EXPECT_TRUE(absl::EndsWith(svg, "</svg>\n"));
  EXPECT_EQ(Count(svg, "<path"), 0);
  EXPECT_EQ(Count(svg, "class=\"reference\""), 0);
  EXPECT_THAT(svg, Not(HasSubstr("nan,")));
}

TEST(XySvgTest, ASeriesWithIntervalsGetsOneBandAlongHighsThenBackAlongLows) {
  XyChart chart;
  XyPoint a{1, 0.5};
  a.low = 0.25;
  a.high = 0.75;
  XyPoint b{2, 0.5};  // no interval here: left out of the band
  XyPoint c{3, 1};
  c.low = 0.5;
  c.high = 1.5;
  chart.series = {{"with", {a, b, c}}, {"without", {{1, 1}, {2, 1}}}};
  PlotOptions options;
  options.xml_declaration = false;
  const std::string svg = RenderXySvg(chart, options);
  EXPECT_TRUE(absl::StartsWith(svg, "<svg "));
  EXPECT_EQ(Count(svg, "<polygon class=\"band\""), 1);
  EXPECT_EQ(Count(svg, "<path class=\"line\""), 2);
  // x axis to 3.5 (3 * 1.05 rounded up to 0.5), y axis to 1.6 (1.5 * 1.05
  // rounded up to 0.2): plot area 80..650 x 50..500.
  const auto X = [](double x) { return 80 + 570 * x / 3.5; };
  const auto Y = [](double y) { return 50 + 450 * (1 - y / 1.6); };
  EXPECT_THAT(svg, HasSubstr(absl::StrFormat("points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f %.2f,%.2f \"",
                                             X(1), Y(0.75), X(3), Y(1.5), X(3), Y(0.5), X(1),
                                             Y(0.25))));
}

TEST(ParseCurvesCsvTest, ReadsBackWhatCurvesCsvWrote) {
  SimulationResult result;
  result.lai_robbins_constant = 2;  // its rows are written, and skipped on reading
  result.curves = {{"ucb1", {{1, 0.5, 0.25, 0.75}, {10, 2, 1.5, 2.5}}},
                   {"odd,\"name\"", {{1, 0.125, 0, 0.25}, {10, 1, 0.5, 1.5}}}};
  ASSERT_OK_AND_ASSIGN(SimulationResult back, ParseCurvesCsv(CurvesCsv(result), "run.csv"));
  EXPECT_EQ(back.environment, "run.csv");
  EXPECT_EQ(back.horizon, 10);
  ASSERT_EQ(back.curves.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back.curves[i].policy, result.curves[i].policy);
    ASSERT_EQ(back.curves[i].points.size(), 2u);
    for (size_t j = 0; j < 2; ++j) {
      const CurvePoint& want = result.curves[i].points[j];
      const CurvePoint& got = back.curves[i].points[j];
      EXPECT_EQ(got.t, want.t);
      EXPECT_EQ(got.mean, want.mean);
      EXPECT_EQ(got.low, want.low);
      EXPECT_EQ(got.high, want.high);
    }
  }
}

TEST(ParseCurvesCsvTest, RejectsBadInputNamingTheLine) {
  using ::recbandit::testing::StatusIs;
  EXPECT_THAT(ParseCurvesCsv("a,b\n", "x.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 1")));
  EXPECT_THAT(ParseCurvesCsv("policy,t,mean,low,high\n", "x.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no curve rows")));
  const std::string header = "policy,t,mean,low,high\nucb1,1,0.5,0.2,0.7\n";
  for (const char* bad : {"ucb1,0,1,1,1", "ucb1,2,nan,1,1", "ucb1,2,1,1", "\"ucb1,2,1,1,1",
                          "ucb1,2,x,1,1"}) {
    EXPECT_THAT(ParseCurvesCsv(header + bad + "\n", "x.csv"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 3")))
        << bad;
  }
  EXPECT_THAT(ParseCurvesCsv(header + "thompson,1,1,1,1\nucb1,2,1,1,1\n", "x.csv"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("consecutive")));
}

}  // namespace
}  // namespace recbandit::bandits
