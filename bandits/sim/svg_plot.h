// Output of simulation curves: a CSV (policy,t,mean,low,high) and a
// self-contained SVG line chart with shaded 95% bands, axes with ticks, a
// legend and a title naming the environment; and, with the same frame, a
// generic x-y line chart (loadtest's capacity curve draws with it).
#ifndef RECBANDIT_BANDITS_SIM_SVG_PLOT_H_
#define RECBANDIT_BANDITS_SIM_SVG_PLOT_H_

#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "bandits/sim/simulator.h"

namespace recbandit::bandits {

// Returns the CSV text of every curve: header "policy,t,mean,low,high", then
// one row per policy and checkpoint; for Bernoulli problems also the rows of
// policy "lai_robbins" (c ln t, low = high = mean). Policy specs containing
// ',' or '"' are quoted (RFC 4180).
std::string CurvesCsv(const SimulationResult& result);

// Returns the curves of a CSV that CurvesCsv wrote (`recbandit simulate
// --out`): one PolicyCurve per policy in order of first appearance, rows of
// "lai_robbins" skipped; environment = `name`. INVALID_ARGUMENT naming the
// line for a wrong header, a bad field or more than 1,000,000 rows. Pure
// function.
absl::StatusOr<SimulationResult> ParseCurvesCsv(absl::string_view csv, const std::string& name);

// Options of the chart.
struct PlotOptions {
  // Logarithmic x axis (default) or linear.
  bool log_x = true;
  int width = 900;   // pixels
  int height = 560;  // pixels
  // Start with an XML declaration (a standalone .svg file); false for an
  // SVG inlined into an HTML page.
  bool xml_declaration = true;
};

// Returns an SVG document: per policy one <polygon> band (95% interval, 20%
// opacity) and exactly one <path> line; the Lai-Robbins curve, when present,
// is a dashed <polyline>. Y label: cumulative pseudo-regret, or reward per
// step for replay. Pure function.
std::string RenderSvg(const SimulationResult& result, const PlotOptions& options);

// A line chart of y against x on linear axes starting at 0, for curves that
// are not simulation results (e.g. loadtest's p99 latency against QPS).
struct XyPoint {
  double x = 0;
  double y = 0;
  std::string label;  // the point's <title> (shown on hover); "" = none
  // An interval around y drawn as the series' shaded band (low <= high,
  // both finite); NaN = none at this point.
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};
struct XySeries {
  std::string name;             // legend entry and the line's <title>
  std::vector<XyPoint> points;  // joined in this order; non-finite ones skipped
};
// A horizontal line across the plot (an objective, a bound).
struct ReferenceLine {
  std::string label;  // legend entry and the line's <title>
  double y = 0;
};
struct XyChart {
  std::string title;
  std::string subtitle;
  std::string x_label;
  std::string y_label;
  std::vector<XySeries> series;
  std::vector<ReferenceLine> lines;
};

// Returns an SVG document of `chart`, `options.width` x `options.height`
// (`log_x` does not apply): per series exactly one <path class="line"> with a
// <circle> per point, per reference line one dashed black <line
// class="reference">, each carrying its name or label as <title>; both axes run from 0 to a nice bound
// 5% or more above every point and reference line. A series with intervals
// (XyPoint::low/high) also gets one <polygon class="band">. Pure function.
std::string RenderXySvg(const XyChart& chart, const PlotOptions& options);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_SIM_SVG_PLOT_H_
