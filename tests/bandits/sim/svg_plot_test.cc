// Tests of the generic x-y chart (RenderXySvg): one path per series, the
// reference lines, axes from 0, escaping, and empty input. The simulation
// chart (RenderSvg) is tested with the simulator (simulator_test.cc).
#include "bandits/sim/svg_plot.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

}  // namespace
}  // namespace recbandit::bandits
