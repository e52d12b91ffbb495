// Dashboard: the server's web pages on the HTTP port beside the JSON API
// (GET / and /dashboard/...): models and versions, experiments, deployments,
// OPE, drift and simulations' regret curves, as HTML with inline SVG charts
// (bandits/sim/svg_plot.h) and inline CSS; no script, nothing fetched from
// elsewhere. Data comes from the server's own rpcs over its in-process
// channel (auth, bounds and metrics as for any call) and, for reward over
// time, from the event log.
#ifndef RECBANDIT_SERVICES_HTTP_DASHBOARD_H_
#define RECBANDIT_SERVICES_HTTP_DASHBOARD_H_

#include <memory>
#include <string>

#include "services/http/json_gateway.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace recbandit::bandits {
class EventLog;
}  // namespace recbandit::bandits

namespace recbandit::services {

struct DashboardOptions {
  // The gRPC server's in-process channel. Required.
  std::shared_ptr<grpc::Channel> channel;
  // The server's event log (reward over time). Required; outlives the
  // dashboard.
  const bandits::EventLog* log = nullptr;
  // Folder of `recbandit simulate --out` CSV files shown on the simulations
  // page (<data_dir>/simulations); missing = none.
  std::string simulations_dir;
};

// Pages:
//   /  or /dashboard             overview: models, experiments, deployments, simulations
//   /dashboard/models            every version: metrics, gate results, active; drift
//   /dashboard/experiments/<n>   variants, traffic, reward over time, pmfs, OPE, drift
//   /dashboard/deployments/<n>   variants, traffic, canary state, reward over time
//   /dashboard/simulations       regret curves of <data_dir>/simulations/*.csv
// Query: `buckets` (1..100) on experiment and deployment pages; `token` on
// any page stores the bearer token in a cookie (HttpOnly, SameSite=Strict)
// and redirects to the page without it. Auth: the Authorization header, else
// that cookie, is passed to every rpc. Unknown page: 404; unknown parameter
// or bad value: 400; errors quote caller input bounded and escaped.
// Thread-safe.
class Dashboard {
 public:
  explicit Dashboard(DashboardOptions options);
  // Returns the page for `request`. Never throws; errors are pages.
  HttpPage Serve(const HttpPageRequest& request) const;

 private:
  DashboardOptions options_;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_HTTP_DASHBOARD_H_
