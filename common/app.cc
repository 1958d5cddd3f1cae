#include "common/app.h"

#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/identity.h"
#include "common/log.h"
#include "common/pg_migrations.h"
#include "common/status.h"
#include "grpc/health/v1/health.grpc.pb.h"

#ifndef AW_VERSION
#define AW_VERSION "dev"
#endif
#ifndef AW_GIT_COMMIT
#define AW_GIT_COMMIT "unknown"
#endif

namespace aw {
namespace {

constexpr int kMaxMessageBytes = 16 * 1024 * 1024;
// How long the servers get, once no call is in flight, to write what is left
// before the connections clients keep open are closed.
constexpr absl::Duration kFlushGrace = absl::Milliseconds(500);
// Health "service" that is SERVING from start to shutdown, for liveness probes
// that must not restart a process only because its database is away.
constexpr std::string_view kLivenessService = "auditwatch.liveness";

// One service running in this process.
struct Running {
  const ModuleDef* def = nullptr;
  std::vector<db::Migration> migrations;
  std::unique_ptr<db::Pool> pool;
  std::unique_ptr<WorkerPool> workers;
  std::unique_ptr<Module> module;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::thread supervisor;
};

class App {
 public:
  App(Config config, const std::vector<ModuleDef>& table)
      : config_(std::move(config)), table_(table), log_(Logger("auditwatch")) {}

  int Run();

 private:
  absl::Status StartService(const ModuleDef& def);
  void Supervise(Running& r);
  std::string DependencyProblem(const std::string& dep);
  std::string AddressOf(const std::string& name);
  absl::Status WritePortsFile();
  void Fatal(const absl::Status& status);
  void Shutdown();

  const Config config_;
  const std::vector<ModuleDef>& table_;
  std::shared_ptr<spdlog::logger> log_;
  Metrics metrics_;
  std::vector<std::unique_ptr<Running>> running_;  // in start order
  absl::Notification stop_;
  std::atomic<bool> failed_{false};
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mu_);
};

// Readiness of a service: the server's overall health name ("") and the
// service's own. Never the liveness name — and never through
// SetServingStatus(bool), which sets every name, liveness included.
void SetReady(grpc::HealthCheckServiceInterface* health, const std::string& grpc_service, bool ready) {
  health->SetServingStatus("", ready);
  health->SetServingStatus(grpc_service, ready);
}

const ModuleDef* Find(const std::vector<ModuleDef>& table, const std::string& name) {
  for (const ModuleDef& d : table) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::string App::AddressOf(const std::string& name) {
  if (auto it = config_.addrs.find(name); it != config_.addrs.end() && !it->second.empty()) {
    return it->second;
  }
  for (const auto& r : running_) {
    if (r->def->name == name && r->port > 0) return absl::StrCat("127.0.0.1:", r->port);
  }
  return absl::StrCat("127.0.0.1:", config_.ports.at(name));
}

absl::Status App::StartService(const ModuleDef& def) {
  auto r = std::make_unique<Running>();
  r->def = &def;
  auto migrations = db::ParseMigrations(def.migration_files());
  if (!migrations.ok()) return migrations.status();
  r->migrations = *std::move(migrations);
  r->pool = std::make_unique<db::Pool>(db::PoolOptions{
      .url = config_.database_url,
      .schema = def.name,
      .size = config_.db_pool_size,
      .application_name = "auditwatch-" + def.name,
  });
  r->workers = std::make_unique<WorkerPool>("aw-" + def.name, config_.workers,
                                            config_.worker_queue);
  ModuleContext ctx{
      .name = def.name,
      .config = &config_,
      .db = r->pool.get(),
      .workers = r->workers.get(),
      .metrics = &metrics_,
      .clock = Clock::Real(),
      .address_of = [this](const std::string& svc) { return AddressOf(svc); },
      .channel_to =
          [this](const std::string& svc, const grpc::ChannelArguments& args) -> std::shared_ptr<grpc::Channel> {
            const bool configured = config_.addrs.contains(svc) && !config_.addrs.at(svc).empty();
            for (const auto& running : running_) {
              if (!configured && running->def->name == svc && running->server != nullptr) {
                return running->server->InProcessChannel(args);
              }
            }
            return grpc::CreateCustomChannel(AddressOf(svc), grpc::InsecureChannelCredentials(), args);
          },
      .report_health =
          [running = r.get()](const std::string& name, bool serving) {
            if (running->server != nullptr) running->server->GetHealthCheckService()->SetServingStatus(name, serving);
          },
  };
  r->module = def.create(ctx);

  grpc::ServerBuilder builder;
  const std::string listen = absl::StrCat(config_.listen_host, ":", config_.ports.at(def.name));
  std::shared_ptr<grpc::ServerCredentials> credentials = r->module->ListenerCredentials();
  builder.AddListeningPort(listen, credentials != nullptr ? credentials : grpc::InsecureServerCredentials(),
                           &r->port);
  for (grpc::Service* s : r->module->Services()) builder.RegisterService(s);
  if (grpc::CallbackGenericService* generic = r->module->GenericService()) {
    builder.RegisterCallbackGenericService(generic);
  }
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(metrics_.InterceptorFactory(def.name));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  r->server = builder.BuildAndStart();
  if (r->server == nullptr || r->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, " for ", def.name));
  }
  auto* health = r->server->GetHealthCheckService();
  SetReady(health, def.grpc_service, false);
  health->SetServingStatus(std::string(kLivenessService), true);
  metrics_.SetServing(def.name, false);
  metrics_.SetBuildInfo(def.name, AW_VERSION, AW_GIT_COMMIT);
  Logger(def.name)->info("listening on {}:{} ({}), NOT_SERVING until ready", config_.listen_host,
                         r->port, def.grpc_service);
  running_.push_back(std::move(r));
  return absl::OkStatus();
}

// Empty when `dep` reports SERVING, else why not.
std::string App::DependencyProblem(const std::string& dep) {
  const ModuleDef* def = Find(table_, dep);
  std::shared_ptr<grpc::Channel> channel;
  {
    absl::MutexLock lock(&mu_);
    auto& c = channels_[dep];
    if (c == nullptr) c = grpc::CreateChannel(AddressOf(dep), grpc::InsecureChannelCredentials());
    channel = c;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(config_.dependency_timeout));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(def->grpc_service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status s =
      grpc::health::v1::Health::NewStub(channel)->Check(&ctx, request, &response);
  if (!s.ok()) return absl::StrCat(dep, " unreachable at ", AddressOf(dep), ": ", s.error_message());
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::StrCat(dep, " is not serving");
  }
  return "";
}

// Brings one service to SERVING and keeps its health current: applies its
// migrations once the database answers, starts the module, then checks the
// database and the dependencies every health_interval.
void App::Supervise(Running& r) {
  auto log = Logger(r.def->name);
  bool migrated = false;
  bool serving = false;
  std::string last_problem = "starting";
  while (!stop_.HasBeenNotified()) {
    std::string problem;
    if (!migrated) {
      auto result = db::ApplyMigrations(*r.pool, r.def->name, r.migrations);
      if (result.ok()) {
        log->info("schema {} at version {}: {} migration(s) applied now, {} before",
                  r.def->name, result->latest_version, result->applied, result->already_applied);
      }
      const absl::Status status = result.status();
      if (status.code() == absl::StatusCode::kFailedPrecondition ||
          status.code() == absl::StatusCode::kInvalidArgument ||
          status.code() == absl::StatusCode::kInternal) {
        Fatal(absl::Status(status.code(), absl::StrCat(r.def->name, ": ", status.message())));
        return;
      }
      if (status.ok()) {
        if (absl::Status started = r.module->Start(); !started.ok()) {
          Fatal(absl::Status(started.code(), absl::StrCat(r.def->name, " failed to start: ",
                                                          started.message())));
          return;
        }
        migrated = true;
      } else {
        problem = absl::StrCat("database: ", status.message());
      }
    }
    if (migrated) {
      if (absl::Status db = r.pool->Ping(); !db.ok()) {
        problem = absl::StrCat("database: ", db.message());
      }
      for (const std::string& dep : r.def->dependencies) {
        if (!problem.empty()) break;
        problem = DependencyProblem(dep);
      }
    }
    const bool ready = problem.empty();
    if (ready != serving && !stop_.HasBeenNotified()) {
      SetReady(r.server->GetHealthCheckService(), r.def->grpc_service, ready);
      metrics_.SetServing(r.def->name, ready);
      serving = ready;
    }
    if (problem != last_problem) {
      if (ready) {
        log->info("SERVING");
      } else {
        log->warn("NOT_SERVING: {}", problem);
      }
      last_problem = problem;
    }
    stop_.WaitForNotificationWithTimeout(config_.health_interval);
  }
}

absl::Status App::WritePortsFile() {
  if (config_.ports_file.empty()) return absl::OkStatus();
  nlohmann::ordered_json ports;
  ports["metrics"] = metrics_.port();
  for (const auto& r : running_) ports[r->def->name] = r->port;
  const std::string tmp = config_.ports_file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << ports.dump() << "\n";
    if (!out) return absl::UnavailableError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), config_.ports_file.c_str()) != 0) {
    return absl::UnavailableError("cannot write " + config_.ports_file);
  }
  return absl::OkStatus();
}

void App::Fatal(const absl::Status& status) {
  log_->critical("stopping: {}", status.ToString());
  failed_ = true;
}

void App::Shutdown() {
  // The supervisors stop first, so that none turns a service SERVING again.
  if (!stop_.HasBeenNotified()) stop_.Notify();
  for (auto& r : running_) {
    if (r->supervisor.joinable()) r->supervisor.join();
  }
  // NOT_SERVING from now on, but for the liveness name, which stays SERVING
  // while the process runs (HealthCheckServiceInterface::Shutdown would turn
  // it NOT_SERVING too, and a liveness probe would restart a draining pod).
  for (auto& r : running_) {
    SetReady(r->server->GetHealthCheckService(), r->def->grpc_service, false);
    metrics_.SetServing(r->def->name, false);
  }
  // Long-lived streams wrap up (answering what they took in), new calls are
  // refused, and calls in flight get the drain timeout — while health still
  // answers (liveness SERVING). Only then do the servers stop.
  const absl::Time drain_end = absl::Now() + config_.drain_timeout;
  for (auto& r : running_) {
    r->workers->StopTakingCalls();
    r->module->BeginShutdown();
  }
  if (const int64_t calls = metrics_.calls_in_flight(); calls > 0) {
    log_->info("waiting for {} call(s) in flight", calls);
  }
  while (metrics_.calls_in_flight() > 0 && absl::Now() < drain_end) absl::SleepFor(absl::Milliseconds(20));
  if (metrics_.calls_in_flight() > 0) {
    log_->warn("{} call(s) still in flight after the drain timeout; cutting them", metrics_.calls_in_flight());
  }
  // Every call has sent its status (or the drain is over): the servers get a
  // moment to flush the last frames, then connections that clients keep open
  // are closed rather than waited for.
  const auto deadline = absl::ToChronoTime(std::min(drain_end, absl::Now() + kFlushGrace));
  for (auto it = running_.rbegin(); it != running_.rend(); ++it) {
    Running& r = **it;
    r.server->Shutdown(deadline);
    r.server->Wait();
    r.module->Stop();
    r.workers->Shutdown();
    r.pool->Close();
    Logger(r.def->name)->info("stopped");
  }
}

int App::Run() {
  if (!config_.identity_key_file.empty()) {
    auto key = ReadKeyFile(config_.identity_key_file, "identity_key_file");
    if (!key.ok()) {
      log_->critical("{}", std::string(key.status().message()));
      return 2;
    }
    SetProcessIdentityKey(IdentityKey(*std::move(key)));
  }
  for (const std::string& name : config_.targets) {
    const ModuleDef* def = Find(table_, name);
    if (absl::Status s = StartService(*def); !s.ok()) {
      log_->critical("{}", s.ToString());
      Shutdown();
      return 1;
    }
  }
  if (absl::Status s = metrics_.Serve(config_.listen_host, config_.metrics_port); !s.ok()) {
    log_->critical("{}", s.ToString());
    Shutdown();
    return 1;
  }
  if (absl::Status s = WritePortsFile(); !s.ok()) log_->error("{}", s.ToString());
  log_->info("auditwatch {} ({}) running {}; metrics on :{}/metrics", AW_VERSION, AW_GIT_COMMIT,
             absl::StrJoin(config_.targets, ","), metrics_.port());
  for (auto& r : running_) {
    r->supervisor = std::thread([this, raw = r.get()] { Supervise(*raw); });
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  while (!failed_) {
    const timespec tick{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig > 0) {
      log_->info("received {}, draining for up to {}", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 absl::FormatDuration(config_.drain_timeout));
      break;
    }
  }
  Shutdown();
  log_->info("shutdown complete");
  return failed_ ? 1 : 0;
}

}  // namespace

int RunApp(int argc, char** argv, const std::vector<ModuleDef>& modules) {
  // Signals are taken synchronously by the main thread; block them before any
  // thread exists so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<ServiceSpec> specs;
  for (const ModuleDef& d : modules) specs.push_back({d.name, d.default_port, d.settings});
  auto config = ParseConfig(std::vector<std::string>(argv + 1, argv + argc), ProcessEnv, specs);
  if (!config.ok()) {
    std::fprintf(stderr, "auditwatch: %s\n\n%s", std::string(config.status().message()).c_str(),
                 ConfigUsage(specs).c_str());
    return 2;
  }
  if (config->help) {
    std::fputs(ConfigUsage(specs).c_str(), stdout);
    return 0;
  }
  InitLogging(config->log_level);
  // libpq waits this long for a connection unless the environment says otherwise.
  setenv("PGCONNECT_TIMEOUT", "3", /*overwrite=*/0);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  App app(*std::move(config), modules);
  return app.Run();
}

}  // namespace aw
