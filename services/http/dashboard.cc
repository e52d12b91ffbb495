// Dashboard pages: routing and parameters, the token cookie, one rpc helper
// over the in-process channel, and one writer per page. Every value that is
// not our own markup goes through HtmlEscape (proto/core/names.h).
#include "services/http/dashboard.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bandits/features.h"
#include "bandits/log/event_log.h"
#include "bandits/policy.h"
#include "bandits/reward_series.h"
#include "bandits/sim/svg_plot.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/deployments.grpc.pb.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/recommender.grpc.pb.h"

namespace recbandit::services {

namespace {

constexpr char kCookie[] = "recbandit_token";
constexpr size_t kMaxTokenBytes = 4096;
constexpr int kMaxSimulationFiles = 20;
constexpr uint64_t kMaxSimulationBytes = 16 << 20;

std::string Esc(absl::string_view s) { return HtmlEscape(s); }

std::string Num(double v) {
  if (!std::isfinite(v)) return "-";
  return absl::StrFormat("%.4g", v);
}

std::string Share(double v) { return absl::StrFormat("%.1f%%", 100 * v); }

std::string TimeOfMs(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

constexpr char kStyle[] = R"css(
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2937;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:center}
header a{color:#cfe3ff;text-decoration:none}header b{font-size:18px}
main{padding:16px 24px;max-width:1200px}
section{background:#fff;border:1px solid #dde;border-radius:6px;padding:12px 16px;margin:12px 0}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:4px 0 8px}h3{font-size:15px;margin:10px 0 6px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #dde;padding:3px 8px;text-align:left;font-size:13px}
th{background:#eef1f5}.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#137333}.bad{color:#b3261e}.muted{color:#666}.note{color:#555;font-size:13px}
.tag{display:inline-block;padding:1px 6px;border-radius:4px;background:#e8f0fe;font-size:12px}
svg{max-width:100%;height:auto}
)css";

// A page under construction.
struct Page {
  std::string title;
  std::string body;
};

HttpPage Render(int status, const Page& page) {
  HttpPage out;
  out.status = status;
  out.body = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width\">"
      "<link rel=\"icon\" href=\"data:,\">"
      "<title>", Esc(page.title), " - recbandit</title><style>", kStyle,
      "</style></head><body><header><b>recbandit</b>"
      "<a href=\"/dashboard\">Overview</a><a href=\"/dashboard/models\">Models</a>"
      "<a href=\"/dashboard/simulations\">Simulations</a></header><main>\n<h1>", Esc(page.title),
      "</h1>\n", page.body, "</main></body></html>\n");
  // No script may run, nothing may load from elsewhere; the token never
  // leaves in a Referer.
  out.headers = {{"Content-Security-Policy",
                  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                  "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Referrer-Policy", "no-referrer"},
                 {"Cache-Control", "no-store"}};
  return out;
}

int HttpStatusOf(const absl::Status& status) { return HttpStatusFromCode(status.code()); }

HttpPage ErrorPage(const absl::Status& status) {
  Page page;
  const int http = HttpStatusOf(status);
  page.title = absl::StrCat("Error ", http);
  page.body = absl::StrCat("<section><p class=\"bad\" id=\"error\">",
                           Esc(BoundedMessage(status.message(), 512)), "</p>");
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    absl::StrAppend(&page.body,
                    "<p>This server requires its bearer token: open "
                    "<code>/dashboard?token=&lt;token&gt;</code> once (the token is kept in "
                    "a cookie for this site), or send <code>Authorization: Bearer "
                    "&lt;token&gt;</code>.</p>");
  }
  absl::StrAppend(&page.body, "<p><a href=\"/dashboard\">Back to the overview</a></p></section>\n");
  HttpPage out = Render(http, page);
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    out.headers.emplace_back("WWW-Authenticate", "Bearer");
  }
  return out;
}

// Percent-encodes the bytes a cookie value may not hold.
std::string CookieEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

std::string CookieDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    int value = 0;
    if (s[i] == '%' && i + 2 < s.size() + 0 &&
        absl::SimpleHexAtoi(s.substr(i + 1, 2), &value)) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Returns the Authorization value for the rpcs: the header, else the cookie.
std::string Authorization(const HttpPageRequest& request) {
  if (!request.authorization.empty()) return request.authorization;
  for (absl::string_view part : absl::StrSplit(request.cookie, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, kCookie) && absl::ConsumePrefix(&part, "=")) {
      const std::string token = CookieDecode(part);
      if (token.empty() || token.size() > kMaxTokenBytes) return "";
      return absl::StrCat("Bearer ", token);
    }
  }
  return "";
}

bool Printable(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

// The rpcs of one page request, carrying its authorization.
class Rpc {
 public:
  Rpc(const std::shared_ptr<grpc::Channel>& channel, std::string authorization)
      : recommender_(Recommender::NewStub(channel)),
        experiments_(Experiments::NewStub(channel)),
        deployments_(Deployments::NewStub(channel)),
        authorization_(std::move(authorization)) {}

  // Returns the response of `method` on `stub`, or the call's status.
  template <typename Stub, typename Request, typename Response>
  absl::StatusOr<Response> Call(
      Stub& stub,
      grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
      const Request& request) {
    grpc::ClientContext ctx;
    if (!authorization_.empty()) ctx.AddMetadata("authorization", authorization_);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    Response response;
    const grpc::Status s = (stub.*method)(&ctx, request, &response);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    return response;
  }

  Recommender::Stub& recommender() { return *recommender_; }
  Experiments::Stub& experiments() { return *experiments_; }
  Deployments::Stub& deployments() { return *deployments_; }

 private:
  std::unique_ptr<Recommender::Stub> recommender_;
  std::unique_ptr<Experiments::Stub> experiments_;
  std::unique_ptr<Deployments::Stub> deployments_;
  std::string authorization_;
};

// A failed part of a page (the rest is still shown).
std::string Unavailable(absl::string_view what, const absl::Status& status) {
  return absl::StrCat("<p class=\"muted\">", Esc(what), ": ",
                      Esc(BoundedMessage(status.message(), 512)), "</p>\n");
}

std::string SimulationFilesNote(const DashboardOptions& options) {
  return absl::StrCat("Regret curves are the CSV files (<code>recbandit simulate --out=</code>) in ",
                      "<code>", Esc(PathForMessage(options.simulations_dir)), "</code>.");
}

// Returns the CSV files of the simulations folder, sorted, at most
// kMaxSimulationFiles.
std::vector<std::filesystem::path> SimulationFiles(const std::string& dir, bool* more) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".csv" && entry.is_regular_file(ec)) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  *more = files.size() > kMaxSimulationFiles;
  if (*more) files.resize(kMaxSimulationFiles);
  return files;
}

// ------------------------------------------------------------ pages

std::string DriftSection(const absl::StatusOr<DriftReport>& report, absl::string_view what) {
  std::string s = absl::StrCat("<h3>Drift of ", Esc(what), "</h3>\n");
  if (!report.ok()) return absl::StrCat(s, Unavailable("no drift report", report.status()));
  absl::StrAppend(&s, "<p>State <span class=\"tag drift-state\">",
                  Esc(DriftState_Name(report->state())), "</span> (PSI warn ",
                  Num(report->psi_warn()), ", alert ", Num(report->psi_alert()), "; window ",
                  report->window(), ")</p>\n");
  if (report->features_size() == 0) {
    return absl::StrCat(s, "<p class=\"muted\">No baseline yet (it is taken from the first ",
                        "events served).</p>\n");
  }
  absl::StrAppend(&s, "<table class=\"drift\"><tr><th>feature</th>"
                      "<th>PSI</th><th>JS divergence</th><th>baseline</th><th>live</th>"
                      "<th>state</th></tr>\n");
  for (const FeatureDrift& f : report->features()) {
    absl::StrAppend(&s, "<tr><td>", Esc(f.feature()), "</td><td class=\"num\">", Num(f.psi()),
                    "</td><td class=\"num\">", Num(f.js_divergence()), "</td><td class=\"num\">",
                    f.baseline_count(), "</td><td class=\"num\">", f.live_count(), "</td><td>",
                    Esc(DriftState_Name(f.state())), "</td></tr>\n");
  }
  absl::StrAppend(&s, "</table>\n");
  return s;
}

HttpPage Overview(Rpc& rpc, const DashboardOptions& options) {
  auto models = rpc.Call(rpc.recommender(), &Recommender::Stub::ListModels, ListModelsRequest());
  if (!models.ok()) return ErrorPage(models.status());  // auth fails here first
  auto experiments =
      rpc.Call(rpc.experiments(), &Experiments::Stub::ListExperiments, ListExperimentsRequest());
  auto deployments =
      rpc.Call(rpc.deployments(), &Deployments::Stub::ListDeployments, ListDeploymentsRequest());
  Page page;
  page.title = "Overview";
  std::string& s = page.body;
  absl::StrAppend(&s, "<section id=\"models\"><h2>Models</h2>\n<table><tr><th>model</th>"
                      "<th>active version</th><th>versions stored</th></tr>\n");
  std::map<std::string, std::pair<int64_t, int>> by_name;  // active version, count
  for (const ModelInfo& m : models->models()) {
    auto& entry = by_name[m.manifest().name()];
    ++entry.second;
    if (m.active()) entry.first = m.manifest().version();
  }
  for (const auto& [name, entry] : by_name) {
    absl::StrAppend(&s, "<tr><td><a href=\"/dashboard/models\">", Esc(name), "</a></td><td>",
                    entry.first > 0 ? absl::StrCat(entry.first) : "none", "</td><td>",
                    entry.second, "</td></tr>\n");
  }
  absl::StrAppend(&s, "</table></section>\n<section id=\"experiments\"><h2>Experiments</h2>\n");
  if (!experiments.ok()) {
    absl::StrAppend(&s, Unavailable("experiments", experiments.status()));
  } else {
    absl::StrAppend(&s, "<table><tr><th>experiment</th><th>variants</th><th>description</th>"
                        "</tr>\n");
    for (const ExperimentConfig& e : experiments->experiments()) {
      std::vector<std::string> variants;
      for (const Variant& v : e.variants()) variants.push_back(Esc(v.name()));
      absl::StrAppend(&s, "<tr><td><a href=\"/dashboard/experiments/", Esc(e.name()), "\">",
                      Esc(e.name()), "</a></td><td>", absl::StrJoin(variants, ", "), "</td><td>",
                      Esc(e.description()), "</td></tr>\n");
    }
    absl::StrAppend(&s, "</table>\n");
  }
  absl::StrAppend(&s, "</section>\n<section id=\"deployments\"><h2>Deployments</h2>\n");
  if (!deployments.ok()) {
    absl::StrAppend(&s, Unavailable("deployments", deployments.status()));
  } else {
    absl::StrAppend(&s, "<table><tr><th>deployment</th><th>revision</th><th>variants</th>"
                        "<th>rollout</th></tr>\n");
    for (const Deployment& d : deployments->deployments()) {
      std::vector<std::string> variants;
      for (const DeploymentVariant& v : d.variants()) variants.push_back(Esc(v.name()));
      absl::StrAppend(&s, "<tr><td><a href=\"/dashboard/deployments/", Esc(d.name()), "\">",
                      Esc(d.name()), "</a></td><td>", d.revision(), "</td><td>",
                      absl::StrJoin(variants, ", "), "</td><td>",
                      Esc(RolloutStatus::Phase_Name(d.rollout_status().phase())), "</td></tr>\n");
    }
    absl::StrAppend(&s, "</table>\n");
  }
  bool more = false;
  const auto files = SimulationFiles(options.simulations_dir, &more);
  absl::StrAppend(&s, "</section>\n<section id=\"simulations\"><h2>Simulations</h2>\n<p>",
                  files.size(), more ? "+" : "",
                  " regret curve file(s): <a href=\"/dashboard/simulations\">show</a>. ",
                  SimulationFilesNote(options), "</p></section>\n");
  return Render(200, page);
}

HttpPage Models(Rpc& rpc) {
  auto models = rpc.Call(rpc.recommender(), &Recommender::Stub::ListModels, ListModelsRequest());
  if (!models.ok()) return ErrorPage(models.status());
  Page page;
  page.title = "Models";
  std::string& s = page.body;
  absl::StrAppend(&s, "<section><h2>Versions</h2><p class=\"note\">The server keeps ",
                  models->keep_versions(), " versions per model.</p>\n"
                  "<table id=\"versions\"><tr><th>model</th><th>version</th><th>active</th>"
                  "<th>algo</th><th>factors</th><th>users</th><th>items</th><th>created</th>"
                  "<th>k</th><th>precision@k</th><th>recall@k</th><th>ndcg@k</th>"
                  "<th>auc</th><th>gates</th></tr>\n");
  std::vector<std::string> names;
  for (const ModelInfo& m : models->models()) {
    const ModelManifest& man = m.manifest();
    if (names.empty() || names.back() != man.name()) names.push_back(man.name());
    std::string gates;
    const ValidationReport& v = man.validation();
    if (v.gates_size() == 0) {
      gates = "<span class=\"muted\">none run</span>";
    } else {
      gates = absl::StrCat(v.promoted() ? "<span class=\"ok\">promoted</span>"
                                        : "<span class=\"bad\">not promoted</span>",
                           v.forced() ? " (forced)" : "", "<ul>");
      for (const GateResult& g : v.gates()) {
        absl::StrAppend(&gates, "<li class=\"", g.passed() ? "ok" : "bad", "\">", Esc(g.gate()),
                        ": ", g.passed() ? "passed" : "failed", " (", Num(g.candidate()),
                        " vs ", Num(g.threshold()), ")</li>");
      }
      absl::StrAppend(&gates, "</ul>");
    }
    const RankingMetrics& k = man.metrics();
    absl::StrAppend(
        &s, "<tr class=\"version\" data-model=\"", Esc(man.name()), "\" data-version=\"",
        man.version(), "\"><td>", Esc(man.name()), "</td><td class=\"num\">", man.version(),
        "</td><td>", m.active() ? "<b class=\"ok active\">active</b>" : "", "</td><td>",
        Esc(Algorithm_Name(man.algo())), "</td><td class=\"num\">", man.factors(),
        "</td><td class=\"num\">", man.num_users(), "</td><td class=\"num\">", man.num_items(),
        "</td><td>", TimeOfMs(man.created_unix_ms()), "</td>");
    if (k.k() > 0) {
      absl::StrAppend(&s, "<td class=\"num\">", k.k(), "</td><td class=\"num\">",
                      Num(k.precision_at_k()), "</td><td class=\"num\">", Num(k.recall_at_k()),
                      "</td><td class=\"num\">", Num(k.ndcg_at_k()), "</td><td class=\"num\">",
                      Num(k.auc()), "</td>");
    } else {
      absl::StrAppend(&s, "<td colspan=\"5\" class=\"muted\">not evaluated (train with "
                          "--test)</td>");
    }
    absl::StrAppend(&s, "<td>", gates, "</td></tr>\n");
  }
  absl::StrAppend(&s, "</table></section>\n<section id=\"drift\"><h2>Drift</h2>\n");
  for (const std::string& name : names) {
    GetDriftReportRequest request;
    request.set_model_name(name);
    absl::StrAppend(&s, DriftSection(rpc.Call(rpc.recommender(),
                                              &Recommender::Stub::GetDriftReport, request),
                                     absl::StrCat("model ", name)));
  }
  absl::StrAppend(&s, "</section>\n");
  return Render(200, page);
}

// A reward-over-time chart of an experiment's or a deployment's decisions.
std::string RewardSection(const bandits::EventLog& log, const std::string& name,
                          double default_reward, int buckets, absl::string_view unit) {
  bandits::RewardSeriesOptions options;
  options.buckets = buckets;
  options.default_reward = default_reward;
  std::string s = "<section id=\"reward\"><h2>Reward over time</h2>\n";
  absl::StatusOr<bandits::RewardSeries> series =
      bandits::ComputeRewardSeries(log, name, options);
  if (!series.ok()) return absl::StrCat(s, Unavailable("reward", series.status()), "</section>\n");
  if (series->variants.empty()) {
    return absl::StrCat(s, "<p class=\"muted\" id=\"no-decisions\">No ", Esc(unit),
                        "s logged yet.</p></section>\n");
  }
  bandits::XyChart chart;
  chart.title = absl::StrCat("Mean reward per ", unit, " of ", name);
  chart.subtitle = absl::StrFormat("%d %ss, buckets of %.3g s, 95%% intervals",
                                   series->decisions, unit, series->bucket_us / 1e6);
  chart.x_label = "seconds since the first decision";
  chart.y_label = "mean reward";
  absl::StrAppend(&s, "<table id=\"reward-table\"><tr><th>variant</th><th>", Esc(unit),
                  "s</th><th>mean reward</th><th>last bucket</th></tr>\n");
  for (const bandits::VariantSeries& v : series->variants) {
    bandits::XySeries& line = chart.series.emplace_back();
    line.name = v.variant;
    for (const bandits::RewardBucket& b : v.buckets) {
      bandits::XyPoint& p = line.points.emplace_back();
      p.x = (b.start_us - series->first_us) / 1e6;
      p.y = b.mean;
      p.low = std::max(0.0, b.low);
      p.high = b.high;
      p.label = absl::StrFormat("%s: %.4g [%.4g, %.4g], %d %ss", v.variant, b.mean, b.low,
                                b.high, b.decisions, unit);
    }
    const bandits::RewardBucket& last = v.buckets.back();
    absl::StrAppend(&s, "<tr><td>", Esc(v.variant), "</td><td class=\"num\">", v.decisions,
                    "</td><td class=\"num\">", Num(v.mean), "</td><td>", Num(last.mean), " [",
                    Num(last.low), ", ", Num(last.high), "]</td></tr>\n");
  }
  absl::StrAppend(&s, "</table>\n");
  bandits::PlotOptions plot;
  plot.width = 900;
  plot.height = 380;
  plot.xml_declaration = false;
  absl::StrAppend(&s, "<div class=\"chart\" id=\"reward-chart\">",
                  bandits::RenderXySvg(chart, plot), "</div>");
  if (series->truncated) {
    absl::StrAppend(&s, "<p class=\"note\">Only the oldest ", series->decisions,
                    " decisions are shown.</p>");
  }
  absl::StrAppend(&s, "<p class=\"note\">Decisions without a reward count as ",
                  Num(default_reward), " (rewards still to come included). Negative interval "
                  "ends are drawn at 0.</p></section>\n");
  return s;
}

// Returns the pmf `spec` with `state` gives the arms it knows, at a zero
// context; the arm ids in *actions.
absl::StatusOr<std::vector<double>> CurrentPmf(const ExperimentConfig& config,
                                               const std::string& spec, const PolicyState& state,
                                               std::vector<std::string>* actions) {
  bandits::PolicyOptions options;
  options.context_dim = bandits::ContextLength(bandits::FeatureSpaceFromConfig(config));
  options.exploration_floor = config.exploration_floor();
  auto policy = bandits::CreatePolicy(spec, options);
  if (!policy.ok()) return policy.status();
  if (absl::Status s = (*policy)->Restore(state); !s.ok()) return s;
  bandits::DecisionInput input;
  input.context.assign(options.context_dim, 0.0);
  if (state.has_arm_stats()) {
    for (const ArmStat& a : state.arm_stats().arms()) actions->push_back(a.action());
  } else if (state.has_linear() && !state.linear().shared()) {
    for (const LinearArm& a : state.linear().arms()) actions->push_back(a.action());
  } else {
    return absl::FailedPreconditionError("a shared linear model has no per-action state to show");
  }
  if (actions->empty()) return absl::FailedPreconditionError("no action rewarded yet");
  for (const std::string& id : *actions) input.actions.push_back({id, {}});
  bandits::Decision decision;
  if (absl::Status s = (*policy)->Choose(input, /*seed=*/0, &decision); !s.ok()) return s;
  return decision.pmf;
}

std::string PmfSection(Rpc& rpc, const ExperimentConfig& config) {
  std::string s = "<section id=\"pmfs\"><h2>Current pmfs</h2><p class=\"note\">Each policy's "
                  "probabilities over the actions it has learned about, at a zero context, "
                  "with the experiment's exploration floor; a Decide offering these actions "
                  "draws from it.</p>\n";
  std::vector<std::pair<std::string, std::string>> policies;  // variant key, spec
  for (const Variant& v : config.variants()) policies.emplace_back(v.name(), v.policy_spec());
  for (const std::string& spec : config.shadow_policy_specs()) {
    policies.emplace_back(absl::StrCat("shadow:", spec), spec);
  }
  for (const auto& [key, spec] : policies) {
    GetPolicyStateRequest request;
    request.set_experiment(config.name());
    request.set_variant(key);
    auto state = rpc.Call(rpc.experiments(), &Experiments::Stub::GetPolicyState, request);
    absl::StrAppend(&s, "<h3>", Esc(key), " <span class=\"tag\">", Esc(spec), "</span></h3>\n");
    if (!state.ok()) {
      absl::StrAppend(&s, Unavailable("no state", state.status()));
      continue;
    }
    std::vector<std::string> actions;
    auto pmf = CurrentPmf(config, spec, state->state(), &actions);
    if (!pmf.ok()) {
      absl::StrAppend(&s, Unavailable("no pmf", pmf.status()));
      continue;
    }
    absl::StrAppend(&s, "<table class=\"pmf\" data-variant=\"", Esc(key), "\"><tr><th>action</th>"
                        "<th>probability</th><th>pulls</th><th>mean reward</th></tr>\n");
    for (size_t i = 0; i < actions.size(); ++i) {
      std::string pulls = "-", mean = "-";
      if (state->state().has_arm_stats()) {
        const ArmStat& a = state->state().arm_stats().arms(static_cast<int>(i));
        pulls = absl::StrCat(a.pulls());
        if (a.pulls() > 0) mean = Num(a.reward_sum() / a.pulls());
      }
      absl::StrAppend(&s, "<tr><td>", Esc(actions[i]), "</td><td class=\"num p\">",
                      absl::StrFormat("%.6f", (*pmf)[i]), "</td><td class=\"num\">", pulls,
                      "</td><td class=\"num\">", mean, "</td></tr>\n");
    }
    absl::StrAppend(&s, "</table>\n");
  }
  absl::StrAppend(&s, "</section>\n");
  return s;
}

std::string OpeSection(Rpc& rpc, const ExperimentConfig& config) {
  std::string s = "<section id=\"ope\"><h2>Off-policy evaluation</h2><p class=\"note\">What each "
                  "target would have earned on this experiment's log (EvaluatePolicy, 95% "
                  "intervals).</p>\n";
  std::vector<std::string> targets = {"uniform"};
  for (const std::string& spec : config.shadow_policy_specs()) {
    targets.push_back(absl::StrCat("shadow:", spec));
  }
  for (const std::string& target : targets) {
    EvaluatePolicyRequest request;
    request.set_experiment(config.name());
    request.set_target(target);
    auto report = rpc.Call(rpc.experiments(), &Experiments::Stub::EvaluatePolicy, request);
    absl::StrAppend(&s, "<h3>target ", Esc(target), "</h3>\n");
    if (!report.ok()) {
      absl::StrAppend(&s, Unavailable("not evaluated", report.status()));
      continue;
    }
    absl::StrAppend(&s, "<p>", report->n(), " logged decisions; on-policy mean ",
                    Num(report->on_policy_mean()), "</p><table class=\"ope\"><tr>"
                    "<th>estimator</th><th>value</th><th>95% interval</th><th>ESS</th></tr>\n");
    for (const OpeEstimate& e : report->estimates()) {
      absl::StrAppend(&s, "<tr><td>", Esc(e.estimator()), "</td><td class=\"num\">",
                      Num(e.value()), "</td><td class=\"num\">[", Num(e.ci_low()), ", ",
                      Num(e.ci_high()), "]</td><td class=\"num\">", Num(e.ess()), "</td></tr>\n");
    }
    absl::StrAppend(&s, "</table>\n");
    for (const std::string& w : report->warnings()) {
      absl::StrAppend(&s, "<p class=\"note\">", Esc(w), "</p>\n");
    }
  }
  absl::StrAppend(&s, "</section>\n");
  return s;
}

HttpPage ExperimentPage(Rpc& rpc, const DashboardOptions& options, const std::string& name,
                        int buckets) {
  GetExperimentRequest request;
  request.set_name(name);
  auto config = rpc.Call(rpc.experiments(), &Experiments::Stub::GetExperiment, request);
  if (!config.ok()) return ErrorPage(config.status());
  Page page;
  page.title = absl::StrCat("Experiment ", name);
  std::string& s = page.body;
  double total = 0;
  for (const Variant& v : config->variants()) total += v.traffic_weight();
  absl::StrAppend(&s, "<section id=\"config\"><p id=\"description\">", Esc(config->description()),
                  "</p><p class=\"note\">Created ", TimeOfMs(config->created_unix_ms()),
                  "; context_dim ", config->context_dim(), "; exploration floor ",
                  Num(config->exploration_floor()), "; reward window ",
                  config->reward_window_ms(), " ms</p>\n<h2>Variants and traffic</h2>"
                  "<table id=\"variants\"><tr><th>variant</th><th>policy</th><th>weight</th>"
                  "<th>traffic share</th></tr>\n");
  for (const Variant& v : config->variants()) {
    absl::StrAppend(&s, "<tr class=\"variant\" data-variant=\"", Esc(v.name()), "\"><td>",
                    Esc(v.name()), "</td><td>", Esc(v.policy_spec()), "</td><td class=\"num\">",
                    Num(v.traffic_weight()), "</td><td class=\"num share\">",
                    Share(total > 0 ? v.traffic_weight() / total : 0), "</td></tr>\n");
  }
  absl::StrAppend(&s, "</table>");
  if (config->shadow_policy_specs_size() > 0) {
    std::vector<std::string> shadows;
    for (const std::string& spec : config->shadow_policy_specs()) shadows.push_back(Esc(spec));
    absl::StrAppend(&s, "<p>Shadow policies (logged, never served): ",
                    absl::StrJoin(shadows, ", "), "</p>");
  }
  absl::StrAppend(&s, "</section>\n");
  absl::StrAppend(&s, RewardSection(*options.log, name, config->default_reward(), buckets,
                                    "decision"));
  absl::StrAppend(&s, PmfSection(rpc, *config));
  absl::StrAppend(&s, OpeSection(rpc, *config));
  GetDriftReportRequest drift;
  drift.set_experiment(name);
  absl::StrAppend(&s, "<section id=\"drift\"><h2>Drift</h2>",
                  DriftSection(rpc.Call(rpc.recommender(), &Recommender::Stub::GetDriftReport,
                                        drift),
                               absl::StrCat("experiment ", name)),
                  "</section>\n");
  return Render(200, page);
}

std::string PipelineText(const Pipeline& p) {
  std::string s = Esc(p.model());
  if (!p.rescore_model().empty()) absl::StrAppend(&s, ", rescored by ", Esc(p.rescore_model()));
  if (p.exploration().epsilon() > 0) {
    absl::StrAppend(&s, ", exploration epsilon ", Num(p.exploration().epsilon()));
  }
  return s;
}

std::string EvidenceRow(const VariantEvidence& e, absl::string_view role) {
  return absl::StrCat("<tr><td>", Esc(role), "</td><td>", Esc(e.variant()),
                      "</td><td class=\"num\">", e.served(), "</td><td class=\"num\">",
                      e.errors(), "</td><td class=\"num\">", e.served_in_step(),
                      "</td><td class=\"num\">", Num(e.p99_latency_ms()),
                      "</td><td class=\"num\">", Num(e.reward_mean()), "</td><td class=\"num\">",
                      e.rewarded(), "</td></tr>\n");
}

std::string ComparisonText(const MetricComparison& c) {
  return absl::StrCat(Num(c.difference()), " [", Num(c.ci_low()), ", ", Num(c.ci_high()), "]",
                      c.breached() ? " <b class=\"bad\">breached</b>" : "");
}

HttpPage DeploymentPage(Rpc& rpc, const DashboardOptions& options, const std::string& name,
                        int buckets) {
  GetDeploymentRequest request;
  request.set_name(name);
  auto d = rpc.Call(rpc.deployments(), &Deployments::Stub::GetDeployment, request);
  if (!d.ok()) return ErrorPage(d.status());
  Page page;
  page.title = absl::StrCat("Deployment ", name);
  std::string& s = page.body;
  double total = 0;
  for (const DeploymentVariant& v : d->variants()) total += v.traffic_weight();
  absl::StrAppend(&s, "<section id=\"config\"><p id=\"description\">", Esc(d->description()),
                  "</p><p class=\"note\">Revision ", d->revision(), ", mode ",
                  Esc(DeploymentMode_Name(d->mode())), ", updated ",
                  TimeOfMs(d->updated_unix_ms()), "</p>\n<h2>Variants and traffic</h2>"
                  "<table id=\"variants\"><tr><th>variant</th><th>pipeline</th><th>weight</th>"
                  "<th>traffic share</th></tr>\n");
  for (const DeploymentVariant& v : d->variants()) {
    absl::StrAppend(&s, "<tr class=\"variant\" data-variant=\"", Esc(v.name()), "\"><td>",
                    Esc(v.name()), "</td><td>", PipelineText(v.pipeline()),
                    "</td><td class=\"num\">", Num(v.traffic_weight()),
                    "</td><td class=\"num share\">",
                    Share(total > 0 ? v.traffic_weight() / total : 0), "</td></tr>\n");
  }
  absl::StrAppend(&s, "</table>\n");
  for (const ShadowPipeline& shadow : d->shadows()) {
    absl::StrAppend(&s, "<p>Shadow ", Esc(shadow.name()), ": ", PipelineText(shadow.pipeline()),
                    ", sampled ", Share(shadow.sample_rate()), " of calls</p>\n");
  }
  absl::StrAppend(&s, "</section>\n<section id=\"canary\"><h2>Canary rollout</h2>\n");
  const RolloutStatus& status = d->rollout_status();
  if (!d->has_rollout() && status.phase() == RolloutStatus::PHASE_UNSPECIFIED) {
    absl::StrAppend(&s, "<p class=\"muted\" id=\"rollout-phase\">No rollout.</p>\n");
  } else {
    const RolloutPlan& plan = d->rollout();
    absl::StrAppend(&s, "<p>Phase <b id=\"rollout-phase\">",
                    Esc(RolloutStatus::Phase_Name(status.phase())), "</b>, step ",
                    status.step() + 1, " of ", plan.steps_size(), " (baseline ",
                    Esc(plan.baseline()), ", canary ", Esc(plan.canary()), "); started ",
                    TimeOfMs(status.started_unix_ms()), "</p>\n<p class=\"note\">",
                    Esc(status.reason()), "</p>\n<table id=\"steps\"><tr><th>step</th>"
                    "<th>canary share</th><th>min duration</th><th>min slates</th></tr>\n");
    for (int i = 0; i < plan.steps_size(); ++i) {
      const RolloutStep& step = plan.steps(i);
      absl::StrAppend(&s, "<tr", i == status.step() ? " class=\"current\"" : "", "><td>", i + 1,
                      i == status.step() ? " (current)" : "", "</td><td class=\"num\">",
                      Share(step.canary_share()), "</td><td class=\"num\">",
                      step.min_duration_ms() / 1000.0, " s</td><td class=\"num\">",
                      step.min_events(), "</td></tr>\n");
    }
    const RolloutEvidence& e = status.evidence();
    absl::StrAppend(&s, "</table>\n<h3>Evidence</h3><table id=\"evidence\"><tr><th>role</th>"
                        "<th>variant</th><th>served</th><th>errors</th><th>in step</th>"
                        "<th>p99 ms</th><th>reward/slate</th><th>rewarded</th></tr>\n",
                    EvidenceRow(e.baseline(), "baseline"), EvidenceRow(e.canary(), "canary"),
                    "</table><p>Error rate, canary - baseline: ", ComparisonText(e.error_rate()),
                    "<br>Reward per slate, canary - baseline: ", ComparisonText(e.reward()),
                    "</p>\n");
  }
  absl::StrAppend(&s, "</section>\n");
  if (d->mode() == INTERLEAVED) {
    const InterleavingStatus& i = d->interleaving();
    absl::StrAppend(&s, "<section id=\"interleaving\"><h2>Interleaving</h2><p>",
                    i.impressions(), " slates: ", Esc(i.variant_a()), " won ", i.wins_a(), ", ",
                    Esc(i.variant_b()), " won ", i.wins_b(), ", ", i.ties(),
                    " ties; delta ", Num(i.delta()), " [", Num(i.delta_low()), ", ",
                    Num(i.delta_high()), "]; preferred: ",
                    i.preferred().empty() ? "undecided" : Esc(i.preferred()),
                    "</p></section>\n");
  }
  absl::StrAppend(&s, RewardSection(*options.log, name, 0, buckets, "slate"));
  return Render(200, page);
}

HttpPage SimulationsPage(Rpc& rpc, const DashboardOptions& options) {
  // An rpc first, so that the page needs the token like every other.
  auto check = rpc.Call(rpc.experiments(), &Experiments::Stub::ListExperiments,
                        ListExperimentsRequest());
  if (!check.ok()) return ErrorPage(check.status());
  Page page;
  page.title = "Simulations";
  std::string& s = page.body;
  absl::StrAppend(&s, "<p class=\"note\">", SimulationFilesNote(options), "</p>\n");
  bool more = false;
  const auto files = SimulationFiles(options.simulations_dir, &more);
  if (files.empty()) absl::StrAppend(&s, "<p class=\"muted\">No simulation files.</p>\n");
  for (const auto& path : files) {
    const std::string name = path.filename().string();
    absl::StrAppend(&s, "<section class=\"simulation\" data-file=\"", Esc(name), "\"><h2>",
                    Esc(name), "</h2>\n");
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    absl::StatusOr<std::string> csv =
        ec ? absl::NotFoundError("unreadable")
           : size > kMaxSimulationBytes
                 ? absl::ResourceExhaustedError(absl::StrCat("larger than ", kMaxSimulationBytes,
                                                             " bytes"))
                 : ReadFileToString(path.string());
    absl::StatusOr<bandits::SimulationResult> result =
        csv.ok() ? bandits::ParseCurvesCsv(*csv, name) : csv.status();
    if (!result.ok()) {
      absl::StrAppend(&s, Unavailable("not shown", result.status()), "</section>\n");
      continue;
    }
    absl::StrAppend(&s, "<table class=\"final\"><tr><th>policy</th><th>t</th>"
                        "<th>final regret</th><th>95% band</th></tr>\n");
    for (const bandits::PolicyCurve& c : result->curves) {
      const bandits::CurvePoint& last = c.points.back();
      absl::StrAppend(&s, "<tr><td>", Esc(c.policy), "</td><td class=\"num\">", last.t,
                      "</td><td class=\"num\">", Num(last.mean), "</td><td class=\"num\">[",
                      Num(last.low), ", ", Num(last.high), "]</td></tr>\n");
    }
    bandits::PlotOptions plot;
    plot.xml_declaration = false;
    absl::StrAppend(&s, "</table><div class=\"chart\">", bandits::RenderSvg(*result, plot),
                    "</div></section>\n");
  }
  if (more) {
    absl::StrAppend(&s, "<p class=\"note\">Only the first ", kMaxSimulationFiles,
                    " files are shown.</p>\n");
  }
  return Render(200, page);
}

}  // namespace

Dashboard::Dashboard(DashboardOptions options) : options_(std::move(options)) {}

HttpPage Dashboard::Serve(const HttpPageRequest& request) const {
  // Route.
  enum class Kind { kOverview, kModels, kExperiment, kDeployment, kSimulations };
  Kind kind;
  std::string name;
  absl::string_view path = request.path;
  if (path == "/" || path == "/dashboard" || path == "/dashboard/") {
    kind = Kind::kOverview;
  } else if (path == "/dashboard/models") {
    kind = Kind::kModels;
  } else if (path == "/dashboard/simulations") {
    kind = Kind::kSimulations;
  } else if (absl::ConsumePrefix(&path, "/dashboard/experiments/")) {
    kind = Kind::kExperiment;
    name = std::string(path);
  } else if (absl::ConsumePrefix(&path, "/dashboard/deployments/")) {
    kind = Kind::kDeployment;
    name = std::string(path);
  } else {
    return ErrorPage(absl::NotFoundError(absl::StrCat(
        "no page at ", Quote(request.path),
        ": the pages are /dashboard, /dashboard/models, /dashboard/experiments/<name>, "
        "/dashboard/deployments/<name> and /dashboard/simulations")));
  }
  if (kind == Kind::kExperiment || kind == Kind::kDeployment) {
    const char* field = kind == Kind::kExperiment ? "experiment" : "deployment";
    if (absl::Status s = ValidateName(name, field); !s.ok()) {
      return ErrorPage(absl::NotFoundError(
          absl::StrCat("no page at ", Quote(request.path), ": ", s.message())));
    }
  }
  const std::string canonical =
      kind == Kind::kOverview      ? "/dashboard"
      : kind == Kind::kModels      ? "/dashboard/models"
      : kind == Kind::kSimulations ? "/dashboard/simulations"
      : absl::StrCat(kind == Kind::kExperiment ? "/dashboard/experiments/"
                                               : "/dashboard/deployments/",
                     name);
  // Parameters.
  int buckets = 12;
  for (const auto& [key, value] : request.params) {
    if (key == "token") {
      if (value.empty() || value.size() > kMaxTokenBytes || !Printable(value)) {
        return ErrorPage(absl::InvalidArgumentError(absl::StrCat(
            "token must be 1..", kMaxTokenBytes, " bytes of printable ASCII without spaces")));
      }
      HttpPage redirect;
      redirect.status = 303;
      redirect.content_type = "text/plain; charset=utf-8";
      redirect.body = "token stored in a cookie\n";
      redirect.headers = {{"Location", canonical},
                          {"Set-Cookie", absl::StrCat(kCookie, "=", CookieEncode(value),
                                                      "; Path=/; HttpOnly; SameSite=Strict")},
                          {"Referrer-Policy", "no-referrer"},
                          {"Cache-Control", "no-store"}};
      return redirect;
    }
    if (key == "buckets" && (kind == Kind::kExperiment || kind == Kind::kDeployment)) {
      if (!absl::SimpleAtoi(value, &buckets) || buckets < 1 || buckets > 100) {
        return ErrorPage(absl::InvalidArgumentError(
            absl::StrCat("buckets must be an integer in [1, 100], got ", Quote(value, 32))));
      }
      continue;
    }
    return ErrorPage(absl::InvalidArgumentError(absl::StrCat(
        "unknown query parameter ", Quote(key, 32), " for this page (known: token",
        kind == Kind::kExperiment || kind == Kind::kDeployment ? ", buckets" : "", ")")));
  }
  const std::string authorization = Authorization(request);
  if (!Printable(absl::StrReplaceAll(authorization, {{" ", ""}}))) {
    return ErrorPage(
        absl::InvalidArgumentError("the Authorization header must be printable ASCII"));
  }
  Rpc rpc(options_.channel, authorization);
  switch (kind) {
    case Kind::kOverview: return Overview(rpc, options_);
    case Kind::kModels: return Models(rpc);
    case Kind::kExperiment: return ExperimentPage(rpc, options_, name, buckets);
    case Kind::kDeployment: return DeploymentPage(rpc, options_, name, buckets);
    case Kind::kSimulations: return SimulationsPage(rpc, options_);
  }
  return ErrorPage(absl::InternalError("unreachable"));
}

}  // namespace recbandit::services
