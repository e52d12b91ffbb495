// Output of simulation curves: a CSV (policy,t,mean,low,high) and a
// self-contained SVG line chart with shaded 95% bands, axes with ticks, a
// legend and a title naming the environment; and, with the same frame, a
// generic x-y line chart (loadtest's capacity curve draws with it).
#ifndef RECBANDIT_BANDITS_SIM_SVG_PLOT_H_
#define RECBANDIT_BANDITS_SIM_SVG_PLOT_H_

#include <string>
#include <vector>

#include "bandits/sim/simulator.h"

namespace recbandit::bandits {

// Returns the CSV text of every curve: header "policy,t,mean,low,high", then
// one row per policy and checkpoint; for Bernoulli problems also the rows of
// policy "lai_robbins" (c ln t, low = high = mean). Policy specs containing
// ',' or '"' are quoted (RFC 4180).
std::string CurvesCsv(const SimulationResult& result);

// Options of the chart.
struct PlotOptions {
  // Logarithmic x axis (default) or linear.
  bool log_x = true;
  int width = 900;   // pixels
  int height = 560;  // pixels
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
// 5% or more above every point and reference line. Pure function.
std::string RenderXySvg(const XyChart& chart, const PlotOptions& options);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_SIM_SVG_PLOT_H_
