// Server: start-up, shutdown and wiring. Builds the grpc::Server with the
// Recommender and Experiments services (services/rpc/, thin handlers over
// ModelStore, JobQueue, RecentEvents and bandits::ExperimentManager), the
// health service and reflection, and the HTTP/JSON API with the dashboard
// (services/http/); rebuilds recent events from the log.
#include "services/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/codegen/service_type.h>
#include <grpcpp/security/server_credentials.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "bandits/experiment.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "services/http/dashboard.h"
#include "services/http/json_gateway.h"
#include "services/monitoring/prometheus_metrics.h"
#include "services/rpc/call.h"
#include "services/rpc/deployments_service.h"
#include "services/rpc/experiments_service.h"
#include "services/rpc/recommender_service.h"
#include "services/serving/deployments.h"
#include "services/monitoring/drift.h"
#include "services/serving/model_store.h"
#include "services/serving/recent_events.h"
#include "services/serving/catalog.h"
#include "services/serving/recommend_pipeline.h"
#include "services/serving/job_queue.h"
#include "services/replication/replication.h"

namespace recbandit::services {

namespace {

// Our gRPC services: health is reported for each, the HTTP/JSON API serves
// each.
const char* const kServices[] = {"recbandit.Recommender", "recbandit.Experiments",
                                 "recbandit.Deployments"};

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerOptions& options) {
  if (options.tls_cert_path.empty() != options.tls_key_path.empty()) {
    return absl::InvalidArgumentError("TLS needs both --tls_cert and --tls_key");
  }
  if (options.tls_cert_path.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ASSIGN_OR_RETURN(pair.private_key, ReadFileToString(options.tls_key_path));
  ASSIGN_OR_RETURN(pair.cert_chain, ReadFileToString(options.tls_cert_path));
  if (pair.cert_chain.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.tls_cert_path, ": not a PEM certificate"));
  }
  if (pair.private_key.find("PRIVATE KEY-----") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.tls_key_path, ": not a PEM private key"));
  }
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("the server needs a data directory (--data_dir)");
  }
  if (options.max_message_bytes < 1024 || options.max_message_bytes > (1 << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_message_bytes must be in [1024, 2^30], got ", options.max_message_bytes));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials(options));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<Server> server(new Server());
  server->options_ = options;
  RETURN_IF_ERROR(MakeDirs(options.data_dir));
  ASSIGN_OR_RETURN(server->metrics_, ServerMetrics::Create(RpcLabels()));
  if (options.metrics_port != 0) {
    RETURN_IF_ERROR(server->metrics_->Serve(options.host, std::max(options.metrics_port, 0)));
  }
  ServerMetrics* metrics = server->metrics_.get();
  // The one event log of the server: the experiments' decisions and rewards
  // and PutEvents' interactions.
  const bool replicated = !options.stream.empty();
  if (replicated) RETURN_IF_ERROR(ValidateReplicaId(options.replica_id));
  if (!replicated && !options.replica_id.empty()) {
    return absl::InvalidArgumentError("--replica_id needs --stream");
  }
  StreamAck stream_ack = StreamAck::kLocal;
  NatsStreamOptions stream_options;
  if (replicated) {
    ASSIGN_OR_RETURN(stream_ack, ParseStreamAck(options.stream_ack));
    ASSIGN_OR_RETURN(stream_options.servers, ParseStreamUrls(options.stream));
    RETURN_IF_ERROR(ValidateName(options.stream_name, "stream_name"));
    stream_options.stream = options.stream_name;
    stream_options.replicas = options.stream_replicas;
    if (options.stream_replicas < 1 || options.stream_replicas > 5) {
      return absl::InvalidArgumentError(
          absl::StrCat("--stream_replicas must be in [1, 5], got ", options.stream_replicas));
    }
  }
  bandits::EventLogOptions log_options;
  log_options.on_write = [metrics](double seconds) { metrics->RecordLogWrite(seconds); };
  if (replicated) log_options.outbox_origin = options.replica_id;
  ASSIGN_OR_RETURN(server->event_log_, bandits::EventLog::Open(options.data_dir, log_options));
  // Catalog metadata for filters and stored features (PutItems / PutUsers).
  CatalogLimits catalog_limits;
  catalog_limits.scan_rows = options.filter_scan_rows;
  ASSIGN_OR_RETURN(server->catalog_, Catalog::Open(options.data_dir, catalog_limits));
  bandits::ExperimentManagerOptions manager_options;
  manager_options.attributes = server->catalog_.get();
  manager_options.snapshot_on_shutdown = options.snapshot_on_shutdown;
  manager_options.replicated = replicated;
  ASSIGN_OR_RETURN(server->experiments_manager_,
                   bandits::ExperimentManager::Open(server->event_log_.get(), manager_options));
  // Pruned only once the deployments have pinned the versions they serve.
  ModelStoreOptions store_options;
  store_options.keep_versions = options.keep_versions;
  store_options.prune = false;
  store_options.memory_budget_bytes = options.model_memory_budget;
  store_options.on_load = [metrics](double seconds, int64_t) { metrics->RecordModelLoad(seconds); };
  store_options.on_evict = [metrics] { metrics->RecordModelEviction(); };
  store_options.on_resident = [metrics](int64_t models, int64_t bytes) {
    metrics->SetModelsResident(models, bytes);
  };
  ASSIGN_OR_RETURN(server->models_,
                   ModelStore::Open(options.models_dir.empty() ? options.data_dir + "/models"
                                                               : options.models_dir,
                                    store_options));
  ASSIGN_OR_RETURN(server->deployments_,
                   DeploymentStore::Open(server->event_log_.get(), server->models_.get()));
  server->deployments_->StartRolloutChecks(absl::Milliseconds(options.rollout_check_ms));
  server->models_->PruneAll();
  ModelStore* models = server->models_.get();
  DriftMonitorOptions drift_options = options.drift;
  drift_options.data_dir = options.data_dir;
  drift_options.source = "server";
  drift_options.active_model = [models](const std::string& name)
      -> absl::StatusOr<std::pair<std::shared_ptr<const ServingModel>, std::string>> {
    ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> m, models->Get(name));
    return std::make_pair(m, models->VersionDir(name, m->version()));
  };
  bandits::ExperimentManager* manager = server->experiments_manager_.get();
  drift_options.experiment_exists = [manager](const std::string& name) {
    return manager->GetExperiment(name).status();
  };
  ASSIGN_OR_RETURN(server->drift_, DriftMonitor::Create(std::move(drift_options)));

  // Real-time events survive restarts: rebuild each user's recent items.
  server->recent_ = std::make_unique<RecentEvents>();
  RecentEvents* recent = server->recent_.get();
  bandits::ScanStats scanned;
  RETURN_IF_ERROR(server->event_log_->ScanInteractions(
      "",
      [recent](const Interaction& x) {
        recent->Add(x.user(), x.item(), x.event_type(), x.weight());
        return absl::OkStatus();
      },
      /*skip_corrupt=*/true, &scanned));
  if (scanned.skipped_corrupt > 0) {
    std::fprintf(stderr, "serve: %lld corrupt stored interactions skipped\n",
                 static_cast<long long>(scanned.skipped_corrupt));
  }

  server->core_ = std::make_unique<ServerCore>();
  ServerCore* core = server->core_.get();
  core->drift = server->drift_.get();  // before the jobs: a finished job captures a baseline
  JobQueueOptions job_options;
  job_options.data_dir = options.data_dir;
  const bandits::EventLog* log = server->event_log_.get();
  job_options.extra_interactions =
      [log](const std::function<void(const Interaction&)>& add) -> absl::Status {
    return log->ScanInteractions(
        "",
        [&add](const Interaction& x) {
          add(x);
          return absl::OkStatus();
        },
        /*skip_corrupt=*/true);
  };
  job_options.compile_filter = [catalog = server->catalog_.get()](const Filter& filter) {
    return catalog->Compile(filter, /*has_user=*/false, "");
  };
  job_options.on_finished = [core](const Job& job) {
    if (job.kind() == JOB_KIND_TRAIN && job.state() == JOB_STATE_SUCCEEDED) {
      core->metrics->SetModelVersion(job.model_name(), job.model_version());
      if (core->replication != nullptr) {
        absl::Status published = core->replication->PublishActivation(
            job.model_name(), job.model_version(),
            core->models->VersionDir(job.model_name(), job.model_version()) + "/manifest");
        if (!published.ok()) {
          std::fprintf(stderr, "stream: activation of %s not published: %s\n",
                       job.model_name().c_str(), std::string(published.message()).c_str());
        }
      }
      CaptureDriftBaseline(*core, job.model_name());
    }
    PublishJobCounts(*core);
  };
  job_options.start_worker = false;  // started once the core is wired (on_finished uses it)
  ASSIGN_OR_RETURN(server->jobs_, JobQueue::Open(server->models_.get(), job_options));

  core->options = &server->options_;
  core->metrics = metrics;
  core->models = server->models_.get();
  core->jobs = server->jobs_.get();
  core->recent = recent;
  core->experiments = server->experiments_manager_.get();
  core->deployments = server->deployments_.get();
  // Each active version's drift baseline: read, or computed and stored.
  // Not under --model_memory_budget, where models load at first use (and
  // capturing would load them all now).
  if (options.model_memory_budget == 0) {
    if (auto listed = server->models_->List(""); listed.ok()) {
      for (const ModelInfo& m : *listed) {
        if (m.active()) CaptureDriftBaseline(*core, m.manifest().name());
      }
    }
  }
  metrics->SetScrapeHook([core] { PublishDrift(*core); });
  server->jobs_->Start();
  server->pipeline_ = std::make_unique<RecommendPipeline>(
      server->models_.get(), recent, core->experiments, core->deployments,
      server->event_log_.get(),
      [metrics](const char* outcome) { metrics->RecordShadowSlate(outcome); },
      RecommendPipeline::kMaxQueuedShadows, [metrics] { metrics->RecordSlateLogFailure(); },
      server->catalog_.get());
  core->catalog = server->catalog_.get();
  core->pipeline = server->pipeline_.get();
  core->event_log = server->event_log_.get();
  PublishModelVersions(*core);
  PublishJobCounts(*core);
  if (replicated) {
    ReplicationOptions replication;
    replication.stream = std::move(stream_options);
    replication.replica_id = options.replica_id;
    replication.ack = stream_ack;
    replication.on_interaction = [recent](const Interaction& x) {
      recent->Add(x.user(), x.item(), x.event_type(), x.weight());
    };
    replication.activate = [core](const StreamModelActivation& a) -> absl::Status {
      const std::string manifest = core->models->VersionDir(a.name(), a.version()) + "/manifest";
      absl::StatusOr<std::string> crc = FileCrc32cHex(manifest);
      if (!crc.ok() || *crc != a.manifest_crc32c()) {
        // Not this replica's to fix: reported, and the previous version
        // keeps serving here.
        return absl::FailedPreconditionError(absl::StrCat(
            "model ", a.name(), " version ", a.version(), ": the shared copy ",
            crc.ok() ? absl::StrCat("has manifest CRC ", *crc, ", not ", a.manifest_crc32c())
                     : std::string(crc.status().message())));
      }
      ASSIGN_OR_RETURN(ModelInfo info, core->models->Activate(a.name(), a.version()));
      core->metrics->SetModelVersion(a.name(), info.manifest().version());
      return absl::OkStatus();
    };
    ASSIGN_OR_RETURN(server->replication_,
                     Replication::Start(std::move(replication), server->event_log_.get(),
                                        server->experiments_manager_.get()));
    core->replication = server->replication_.get();
  }
  server->recommender_ = NewRecommenderService(core);
  server->experiments_ = NewExperimentsService(core);
  server->deployments_service_ = NewDeploymentsService(core);

  grpc::ServerBuilder builder;
  // Without this a second server could bind the same port and silently take
  // half the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  const std::string address = absl::StrCat(
      options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host,
      ":", options.port);
  builder.AddListeningPort(address, credentials, &server->port_);
  builder.RegisterService(server->recommender_.get());
  builder.RegisterService(server->experiments_.get());
  builder.RegisterService(server->deployments_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", address,
        options.tls_cert_path.empty()
            ? " (address in use or not local?)"
            : " (address in use, or the TLS key does not match the certificate or a PEM "
              "file is malformed: see gRPC's messages above)"));
  }
  // Health per service (grpc.health.v1 with service="recbandit.Recommender",
  // "recbandit.Experiments" or "recbandit.Deployments") and overall
  // (service=""); all turn
  // NOT_SERVING when Shutdown starts.
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  for (const char* service : kServices) health->SetServingStatus(service, true);
  health->SetServingStatus(true);
  if (options.http_port != 0) {
    // Through the in-process channel: every HTTP call is a gRPC call of this
    // server (auth, admission, metrics, log, bounds). No client-side size
    // limit: the server's max_message_bytes applies.
    JsonGatewayOptions http;
    http.host = options.host;
    http.port = std::max(options.http_port, 0);
    http.services.assign(std::begin(kServices), std::end(kServices));
    http.max_body_bytes = static_cast<size_t>(options.max_message_bytes);
    http.tls_cert_path = options.tls_cert_path;
    http.tls_key_path = options.tls_key_path;
    DashboardOptions dashboard;
    dashboard.channel = server->InProcessChannel();
    dashboard.log = server->event_log_.get();
    dashboard.simulations_dir = absl::StrCat(options.data_dir, "/simulations");
    server->dashboard_ = std::make_unique<Dashboard>(std::move(dashboard));
    http.pages = [d = server->dashboard_.get()](const HttpPageRequest& request) {
      return d->Serve(request);
    };
    ASSIGN_OR_RETURN(server->http_, JsonGateway::Start(http, server->InProcessChannel()));
  }
  return server;
}

std::shared_ptr<grpc::Channel> Server::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return server_->InProcessChannel(args);
}

Server::~Server() {
  // The metrics endpoint outlives the core its drift hook reads.
  if (metrics_ != nullptr) metrics_->SetScrapeHook(nullptr);
  Shutdown(absl::ZeroDuration());
}

int Server::metrics_port() const { return metrics_ == nullptr ? 0 : metrics_->port(); }

int Server::http_port() const { return http_ == nullptr ? 0 : http_->port(); }

void Server::SetNotServing() {
  absl::MutexLock lock(&shutdown_mu_);
  if (server_ != nullptr && !shut_down_) server_->GetHealthCheckService()->SetServingStatus(false);
}

void Server::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (server_ == nullptr || shut_down_) return;
  if (core_ != nullptr) core_->stopping = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  const absl::Time deadline = absl::Now() + grace;
  if (http_ != nullptr) {
    // HTTP calls drain first: the in-process transport they ride closes
    // (failing what still runs) as soon as the gRPC server shuts down.
    http_->Stop();  // new HTTP requests get 503; open streams end
    http_->Drain(grace);
  }
  server_->Shutdown(absl::ToChronoTime(deadline));
  server_->Wait();
  if (http_ != nullptr) http_->Wait();  // every HTTP request answered
  // No handler runs any more: stop training (a running job is cancelled and
  // writes nothing) and the rollout checker, then snapshot every policy; the
  // log closes with the server (every acknowledged decision and event is
  // already durable).
  if (jobs_ != nullptr) jobs_->Shutdown();
  if (deployments_ != nullptr) deployments_->StopRolloutChecks();
  // Nothing learns from the stream once the policies are snapshotted; what
  // is committed and unpublished is published at the next start.
  if (replication_ != nullptr) replication_->Stop();
  if (experiments_manager_ != nullptr) {
    absl::Status s = experiments_manager_->Shutdown();
    if (!s.ok()) std::fprintf(stderr, "serve: snapshot at shutdown failed: %s\n",
                              std::string(s.message()).c_str());
  }
  shut_down_ = true;
}

void Server::Wait() {
  if (server_ == nullptr) return;
  server_->Wait();
  absl::MutexLock lock(&shutdown_mu_);
  shutdown_mu_.Await(absl::Condition(&shut_down_));
}

}  // namespace recbandit::services
