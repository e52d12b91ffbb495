// Output of simulation curves: a CSV (policy,t,mean,low,high) and a
// self-contained SVG line chart with shaded 95% bands, axes with ticks, a
// legend and a title naming the environment.
#ifndef RECBANDIT_BANDITS_SIM_SVG_PLOT_H_
#define RECBANDIT_BANDITS_SIM_SVG_PLOT_H_

#include <string>

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

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_SIM_SVG_PLOT_H_
