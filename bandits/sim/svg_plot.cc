// CSV and SVG output of simulation curves, and the generic x-y line chart
// (see svg_plot.h).
#include "bandits/sim/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "proto/core/names.h"

namespace recbandit::bandits {
namespace {

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  return absl::StrCat("\"", absl::StrReplaceAll(s, {{"\"", "\"\""}}), "\"");
}

std::string XmlEscape(const std::string& s) { return HtmlEscape(s); }

// Tick step of about `target` ticks over `span`: 1, 2 or 5 times a power of 10.
double NiceStep(double span, int target) {
  if (!(span > 0)) return 1;
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

std::string TickLabel(double v) {
  const double a = std::fabs(v);
  if (a != 0 && (a >= 1e6 || a < 1e-3)) return absl::StrFormat("%.0e", v);
  return absl::StrFormat("%g", v);
}

// The plotting rectangle inside the picture, pixels.
struct PlotArea {
  double left, top, width, height;
};

// Returns the opening of an SVG document of the options' size: XML
// declaration, <svg> element and a white background.
std::string SvgOpen(const PlotOptions& options) {
  return absl::StrFormat(
      "%s<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
      options.xml_declaration ? "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" : "",
      options.width, options.height, options.width, options.height, options.width,
      options.height);
}

// Appends the document's <title> ("title: subtitle") and the two centred
// heading lines, the title at `title_x` and the subtitle at `subtitle_x`.
void AppendTitles(const std::string& title, const std::string& subtitle, double title_x,
                  double subtitle_x, std::string* s) {
  absl::StrAppend(s, "<title>", XmlEscape(absl::StrCat(title, ": ", subtitle)), "</title>\n");
  absl::StrAppend(s, absl::StrFormat(
                         "<text x=\"%.1f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" "
                         "font-weight=\"bold\">%s</text>\n"
                         "<text x=\"%.1f\" y=\"40\" text-anchor=\"middle\" font-size=\"12\" "
                         "fill=\"#333\">%s</text>\n",
                         title_x, XmlEscape(title), subtitle_x, XmlEscape(subtitle)));
}

// Appends grid lines with tick labels at `yticks` (through `Y`) and `xticks`
// (through `X`), then the frame of `area`.
template <typename XMap, typename YMap>
void AppendGridAndFrame(const PlotArea& area, const std::vector<double>& xticks, XMap X,
                        const std::vector<double>& yticks, YMap Y, std::string* s) {
  const double left = area.left, top = area.top, pw = area.width, ph = area.height;
  absl::StrAppend(s, "<g stroke=\"#e0e0e0\" stroke-width=\"1\">\n");
  std::string labels;
  for (double v : yticks) {
    absl::StrAppend(s, absl::StrFormat("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                                       left, Y(v), left + pw, Y(v)));
    absl::StrAppend(&labels, absl::StrFormat("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">"
                                             "%s</text>\n",
                                             left - 6, Y(v) + 4, TickLabel(v)));
  }
  for (double t : xticks) {
    absl::StrAppend(s, absl::StrFormat("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
                                       X(t), top, X(t), top + ph));
    absl::StrAppend(&labels, absl::StrFormat("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">"
                                             "%s</text>\n",
                                             X(t), top + ph + 18, TickLabel(t)));
  }
  absl::StrAppend(s, "</g>\n<g fill=\"#333\">\n", labels, "</g>\n");
  absl::StrAppend(s, absl::StrFormat(
                         "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                         "fill=\"none\" stroke=\"#333\"/>\n",
                         left, top, pw, ph));
}

// Appends the x axis label centred under `area` and the rotated y axis label.
void AppendAxisLabels(const PlotArea& area, double picture_height, const std::string& x_label,
                      const std::string& y_label, std::string* s) {
  absl::StrAppend(s, absl::StrFormat("<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n",
                                     area.left + area.width / 2, picture_height - 18,
                                     XmlEscape(x_label)));
  absl::StrAppend(s, absl::StrFormat(
                         "<text x=\"18\" y=\"%.2f\" text-anchor=\"middle\" "
                         "transform=\"rotate(-90 18 %.2f)\">%s</text>\n",
                         area.top + area.height / 2, area.top + area.height / 2,
                         XmlEscape(y_label)));
}

bool HasBand(const XyPoint& p) {
  return std::isfinite(p.low) && std::isfinite(p.high) && p.low <= p.high;
}

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

}  // namespace

std::string CurvesCsv(const SimulationResult& result) {
  std::string out = "policy,t,mean,low,high\n";
  for (const PolicyCurve& c : result.curves) {
    const std::string name = CsvField(c.policy);
    for (const CurvePoint& p : c.points) {
      absl::StrAppend(&out, name, ",", p.t, ",", absl::StrFormat("%.10g,%.10g,%.10g\n",
                                                                 p.mean, p.low, p.high));
    }
  }
  if (result.lai_robbins_constant > 0 && !result.curves.empty()) {
    for (const CurvePoint& p : result.curves[0].points) {
      const double v = result.lai_robbins_constant * std::log(static_cast<double>(p.t));
      absl::StrAppend(&out, "lai_robbins,", p.t, absl::StrFormat(",%.10g,%.10g,%.10g\n", v, v, v));
    }
  }
  return out;
}

absl::StatusOr<SimulationResult> ParseCurvesCsv(absl::string_view csv, const std::string& name) {
  constexpr size_t kMaxRows = 1000000;
  SimulationResult result;
  result.environment = name;
  std::vector<absl::string_view> lines = absl::StrSplit(csv, '\n');
  if (lines.empty() || absl::StripSuffix(lines[0], "\r") != "policy,t,mean,low,high") {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(name), " line 1: the header must be policy,t,mean,low,high"));
  }
  if (lines.size() > kMaxRows + 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(name), ": more than ", kMaxRows, " rows"));
  }
  for (size_t n = 1; n < lines.size(); ++n) {
    absl::string_view line = absl::StripSuffix(lines[n], "\r");
    if (line.empty()) continue;
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat(Quote(name), " line ", n + 1, ": ", why));
    };
    std::string policy;
    if (absl::ConsumePrefix(&line, "\"")) {  // RFC 4180: "" is one quote
      while (true) {
        const size_t q = line.find('"');
        if (q == absl::string_view::npos) return bad("unterminated quoted policy");
        policy.append(line.data(), q);
        line.remove_prefix(q + 1);
        if (!absl::ConsumePrefix(&line, "\"")) break;
        policy.push_back('"');
      }
      if (!absl::ConsumePrefix(&line, ",")) return bad("expected ',' after the quoted policy");
    } else {
      const size_t comma = line.find(',');
      if (comma == absl::string_view::npos) return bad("expected 5 fields");
      policy = std::string(line.substr(0, comma));
      line.remove_prefix(comma + 1);
    }
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    CurvePoint p;
    if (fields.size() != 4) return bad("expected 5 fields");
    if (!absl::SimpleAtoi(fields[0], &p.t) || p.t < 1) return bad("t must be an integer >= 1");
    if (!absl::SimpleAtod(fields[1], &p.mean) || !absl::SimpleAtod(fields[2], &p.low) ||
        !absl::SimpleAtod(fields[3], &p.high) || !std::isfinite(p.mean) ||
        !std::isfinite(p.low) || !std::isfinite(p.high)) {
      return bad("mean, low and high must be finite numbers");
    }
    if (policy == "lai_robbins") continue;
    if (policy.empty()) return bad("empty policy");
    if (result.curves.empty() || result.curves.back().policy != policy) {
      for (const PolicyCurve& c : result.curves) {
        if (c.policy == policy) return bad("a policy's rows must be consecutive");
      }
      result.curves.emplace_back().policy = policy;
    }
    result.curves.back().points.push_back(p);
    result.horizon = std::max(result.horizon, p.t);
  }
  if (result.curves.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(name), ": no curve rows"));
  }
  return result;
}

std::string RenderSvg(const SimulationResult& result, const PlotOptions& options) {
  const double w = options.width, h = options.height;
  const double left = 80, right = 250, top = 50, bottom = 60;
  const double pw = w - left - right, ph = h - top - bottom;
  // Ranges.
  double tmax = 1, ymin = 0, ymax = 0;
  bool any = false;
  for (const PolicyCurve& c : result.curves) {
    for (const CurvePoint& p : c.points) {
      tmax = std::max<double>(tmax, static_cast<double>(p.t));
      if (!any) {
        ymin = p.low;
        ymax = p.high;
        any = true;
      }
      ymin = std::min(ymin, p.low);
      ymax = std::max(ymax, p.high);
    }
  }
  const bool lower_bound = result.lai_robbins_constant > 0 && !result.curves.empty();
  if (lower_bound) {
    ymax = std::max(ymax, result.lai_robbins_constant * std::log(tmax));
  }
  // Regret starts at 0; rewards per step are >= 0, so a normal band reaching
  // below 0 is clipped at 0 in the chart (the CSV keeps it).
  ymin = result.replay ? std::max(ymin, 0.0) : std::min(ymin, 0.0);
  if (!(ymax > ymin)) ymax = ymin + 1;
  const double ystep = NiceStep(ymax - ymin, 6);
  ymin = std::floor(ymin / ystep) * ystep;
  ymax = std::ceil(ymax / ystep) * ystep;
  const bool log_x = options.log_x && tmax > 1;
  const double tmin = 1;
  auto X = [&](double t) {
    const double f = log_x ? std::log(t) / std::log(tmax) : (t - tmin) / std::max(1.0, tmax - tmin);
    return left + pw * f;
  };
  auto Y = [&](double v) {
    return top + ph * (1 - (std::clamp(v, ymin, ymax) - ymin) / (ymax - ymin));
  };
  auto Pt = [&](double t, double v) { return absl::StrFormat("%.2f,%.2f", X(t), Y(v)); };

  std::string s = SvgOpen(options);
  // Title (what is plotted) and subtitle (the environment and run count).
  const std::string title = result.replay ? "Replay on logged data: clicks per matched step"
                                          : "Cumulative pseudo-regret";
  const std::string subtitle =
      absl::StrCat(result.environment, "; ",
                   result.runs > 0 ? absl::StrCat(result.runs, " runs, ") : "",
                   "mean and 95% band");
  AppendTitles(title, subtitle, left + pw / 2, w / 2, &s);
  std::vector<double> yticks;
  for (double v = ymin; v <= ymax + ystep * 1e-9; v += ystep) yticks.push_back(v);
  std::vector<double> xticks;
  if (log_x) {
    for (double t = 1; t <= tmax * (1 + 1e-9); t *= 10) xticks.push_back(t);
  } else {
    const double step = NiceStep(tmax, 6);
    for (double t = 0; t <= tmax * (1 + 1e-9); t += step) xticks.push_back(std::max(t, tmin));
  }
  AppendGridAndFrame(PlotArea{left, top, pw, ph}, xticks, X, yticks, Y, &s);
  const std::string x_label = absl::StrCat(result.replay ? "matched steps t" : "step t",
                                            log_x ? " (log scale)" : "");
  AppendAxisLabels(PlotArea{left, top, pw, ph}, h, x_label,
                   result.replay ? "clicks per matched step" : "cumulative pseudo-regret", &s);
  // Curves: bands first, then lines.
  absl::StrAppend(&s, "<g>\n");
  for (size_t i = 0; i < result.curves.size(); ++i) {
    const PolicyCurve& c = result.curves[i];
    if (c.points.empty()) continue;
    std::string pts;
    for (const CurvePoint& p : c.points) absl::StrAppend(&pts, Pt(p.t, p.high), " ");
    for (auto it = c.points.rbegin(); it != c.points.rend(); ++it) {
      absl::StrAppend(&pts, Pt(it->t, it->low), " ");
    }
    absl::StrAppend(&s, absl::StrFormat("<polygon class=\"band\" points=\"%s\" fill=\"%s\" "
                                        "fill-opacity=\"0.2\" stroke=\"none\"/>\n",
                                        pts, kColors[i % 10]));
  }
  for (size_t i = 0; i < result.curves.size(); ++i) {
    const PolicyCurve& c = result.curves[i];
    if (c.points.empty()) continue;
    std::string d;
    for (size_t k = 0; k < c.points.size(); ++k) {
      absl::StrAppend(&d, k == 0 ? "M" : " L", Pt(c.points[k].t, c.points[k].mean));
    }
    absl::StrAppend(&s, absl::StrFormat("<path class=\"line\" d=\"%s\" fill=\"none\" "
                                        "stroke=\"%s\" stroke-width=\"2\"><title>%s</title>"
                                        "</path>\n",
                                        d, kColors[i % 10], XmlEscape(c.policy)));
  }
  if (lower_bound) {
    std::string pts;
    for (const CurvePoint& p : result.curves[0].points) {
      absl::StrAppend(&pts,
                      Pt(p.t, result.lai_robbins_constant * std::log(static_cast<double>(p.t))),
                      " ");
    }
    absl::StrAppend(&s, absl::StrFormat("<polyline class=\"bound\" points=\"%s\" fill=\"none\" "
                                        "stroke=\"#000\" stroke-width=\"1.5\" "
                                        "stroke-dasharray=\"6 4\"/>\n",
                                        pts));
  }
  absl::StrAppend(&s, "</g>\n");
  // Legend.
  const double lx = left + pw + 16;
  double ly = top + 10;
  absl::StrAppend(&s, "<g>\n");
  for (size_t i = 0; i < result.curves.size(); ++i) {
    const PolicyCurve& c = result.curves[i];
    const double final_mean = c.points.empty() ? 0 : c.points.back().mean;
    absl::StrAppend(&s, absl::StrFormat(
                            "<rect x=\"%.2f\" y=\"%.2f\" width=\"22\" height=\"4\" fill=\"%s\"/>"
                            "<text x=\"%.2f\" y=\"%.2f\">%s</text>"
                            "<text x=\"%.2f\" y=\"%.2f\" fill=\"#555\" font-size=\"11\">"
                            "final %s</text>\n",
                            lx, ly - 4, kColors[i % 10], lx + 28, ly, XmlEscape(c.policy),
                            lx + 28, ly + 14, TickLabel(std::round(final_mean * 1e4) / 1e4)));
    ly += 36;
  }
  if (lower_bound) {
    absl::StrAppend(&s, absl::StrFormat(
                            "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#000\" "
                            "stroke-dasharray=\"6 4\"/><text x=\"%.2f\" y=\"%.2f\">"
                            "Lai-Robbins %.1f ln t</text>\n",
                            lx, ly - 2, lx + 22, ly - 2, lx + 28, ly,
                            result.lai_robbins_constant));
  }
  absl::StrAppend(&s, "</g>\n</svg>\n");
  return s;
}

std::string RenderXySvg(const XyChart& chart, const PlotOptions& options) {
  const double w = options.width, h = options.height;
  const double left = 80, right = 250, top = 50, bottom = 60;
  const double pw = w - left - right, ph = h - top - bottom;
  // Both axes start at 0 and end at a nice bound over every point and line.
  double xmax = 0, ymax = 0;
  for (const XySeries& series : chart.series) {
    for (const XyPoint& p : series.points) {
      if (std::isfinite(p.x)) xmax = std::max(xmax, p.x);
      if (std::isfinite(p.y)) ymax = std::max(ymax, p.y);
      if (HasBand(p)) ymax = std::max(ymax, p.high);
    }
  }
  for (const ReferenceLine& line : chart.lines) {
    if (std::isfinite(line.y)) ymax = std::max(ymax, line.y);
  }
  // 5% spare, so the highest point or line is not drawn on the frame.
  xmax = xmax > 0 ? xmax * 1.05 : 1;
  ymax = ymax > 0 ? ymax * 1.05 : 1;
  const double xstep = NiceStep(xmax, 6), ystep = NiceStep(ymax, 6);
  xmax = std::ceil(xmax / xstep) * xstep;
  ymax = std::ceil(ymax / ystep) * ystep;
  auto X = [&](double x) { return left + pw * std::clamp(x, 0.0, xmax) / xmax; };
  auto Y = [&](double y) { return top + ph * (1 - std::clamp(y, 0.0, ymax) / ymax); };
  std::vector<double> xticks, yticks;
  for (double x = 0; x <= xmax * (1 + 1e-9); x += xstep) xticks.push_back(x);
  for (double y = 0; y <= ymax * (1 + 1e-9); y += ystep) yticks.push_back(y);

  std::string s = SvgOpen(options);
  AppendTitles(chart.title, chart.subtitle, left + pw / 2, w / 2, &s);
  const PlotArea area{left, top, pw, ph};
  AppendGridAndFrame(area, xticks, X, yticks, Y, &s);
  AppendAxisLabels(area, h, chart.x_label, chart.y_label, &s);
  absl::StrAppend(&s, "<g>\n");
  for (const ReferenceLine& line : chart.lines) {
    if (!std::isfinite(line.y)) continue;
    absl::StrAppend(&s, absl::StrFormat(
                            "<line class=\"reference\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                            "y2=\"%.2f\" stroke=\"#000\" stroke-width=\"1.5\" "
                            "stroke-dasharray=\"6 4\"><title>%s</title></line>\n",
                            left, Y(line.y), left + pw, Y(line.y), XmlEscape(line.label)));
  }
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const XySeries& series = chart.series[i];
    // The band: along the highs, back along the lows.
    std::string upper, lower;
    for (const XyPoint& p : series.points) {
      if (!std::isfinite(p.x) || !HasBand(p)) continue;
      absl::StrAppend(&upper, absl::StrFormat("%.2f,%.2f ", X(p.x), Y(p.high)));
      lower = absl::StrCat(absl::StrFormat("%.2f,%.2f ", X(p.x), Y(p.low)), lower);
    }
    if (!upper.empty()) {
      absl::StrAppend(&s, absl::StrFormat("<polygon class=\"band\" points=\"%s%s\" fill=\"%s\" "
                                          "fill-opacity=\"0.2\" stroke=\"none\"/>\n",
                                          upper, lower, kColors[i % 10]));
    }
    std::string d, dots;
    for (const XyPoint& p : series.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
      absl::StrAppend(&d, d.empty() ? "M" : " L", absl::StrFormat("%.2f,%.2f", X(p.x), Y(p.y)));
      absl::StrAppend(&dots, absl::StrFormat("<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\">", X(p.x),
                                             Y(p.y)),
                      p.label.empty() ? "" : absl::StrCat("<title>", XmlEscape(p.label), "</title>"),
                      "</circle>");
    }
    if (d.empty()) continue;
    absl::StrAppend(&s, absl::StrFormat("<path class=\"line\" d=\"%s\" fill=\"none\" "
                                        "stroke=\"%s\" stroke-width=\"2\"><title>%s</title>"
                                        "</path>\n<g fill=\"%s\">%s</g>\n",
                                        d, kColors[i % 10], XmlEscape(series.name),
                                        kColors[i % 10], dots));
  }
  absl::StrAppend(&s, "</g>\n");
  // Legend: series, then reference lines.
  const double lx = left + pw + 16;
  double ly = top + 10;
  absl::StrAppend(&s, "<g>\n");
  for (size_t i = 0; i < chart.series.size(); ++i) {
    absl::StrAppend(&s, absl::StrFormat("<rect x=\"%.2f\" y=\"%.2f\" width=\"22\" height=\"4\" "
                                        "fill=\"%s\"/><text x=\"%.2f\" y=\"%.2f\">%s</text>\n",
                                        lx, ly - 4, kColors[i % 10], lx + 28, ly,
                                        XmlEscape(chart.series[i].name)));
    ly += 24;
  }
  for (const ReferenceLine& line : chart.lines) {
    absl::StrAppend(&s, absl::StrFormat("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                                        "stroke=\"#000\" stroke-dasharray=\"6 4\"/>"
                                        "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n",
                                        lx, ly - 2, lx + 22, ly - 2, lx + 28, ly,
                                        XmlEscape(line.label)));
    ly += 24;
  }
  absl::StrAppend(&s, "</g>\n</svg>\n");
  return s;
}

}  // namespace recbandit::bandits
