// The module table: what a service contributes to the single auditwatch binary.
// A static table of name → port → dependencies → settings → factory (see
// services/modules.cc); --target picks rows from it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/metrics.h"
#include "common/migrations.h"
#include "common/worker_pool.h"

namespace aw {

namespace db {
class Pool;
}

// What a running service gets from the runtime. Pointers outlive the module.
struct ModuleContext {
  std::string name;
  const Config* config = nullptr;
  db::Pool* db = nullptr;  // bound to the service's own schema; handed to its store
  WorkerPool* workers = nullptr;
  Metrics* metrics = nullptr;
  Clock* clock = nullptr;
  // "host:port" of another service: its configured address, this process's
  // server when it runs here, or 127.0.0.1:<its port>.
  std::function<std::string(const std::string& service)> address_of;
  // A channel to another service: to its server in this process when it runs
  // here and no address is configured for it (in-process: no socket, no
  // HTTP/2 framing), else to address_of(service) over TCP with `args`.
  std::function<std::shared_ptr<grpc::Channel>(const std::string& service, const grpc::ChannelArguments& args)>
      channel_to;
  // Sets the health this service's server reports for another name (the
  // gateway reports each backend's there); only once the module has started.
  std::function<void(const std::string& name, bool serving)> report_health;
};

// A running service. Created before its server starts; Start() runs once its
// schema is migrated (before it reports SERVING); BeginShutdown() when the
// drain starts; Stop() after its server has stopped taking calls.
class Module {
 public:
  virtual ~Module() = default;
  virtual std::vector<grpc::Service*> Services() = 0;
  // Serves every method the server has no service for (the gateway's proxy).
  virtual grpc::CallbackGenericService* GenericService() { return nullptr; }
  // The credentials of the service's listener (TLS); plaintext when null.
  virtual std::shared_ptr<grpc::ServerCredentials> ListenerCredentials() { return nullptr; }
  virtual absl::Status Start() { return absl::OkStatus(); }
  // Shutdown has begun (health is NOT_SERVING, calls still run): end
  // long-lived streams, after answering what they have taken in, so that the
  // drain does not wait for them.
  virtual void BeginShutdown() {}
  virtual void Stop() {}
};

struct ModuleDef {
  std::string name;
  int default_port = 0;
  // Full name of the gRPC service reported on grpc.health.v1.
  std::string grpc_service;
  // Services this one calls; it is SERVING only while they are. In one
  // process they start first and stop last.
  std::vector<std::string> dependencies;
  std::vector<db::EmbeddedFile> (*migration_files)() = nullptr;
  std::function<std::unique_ptr<Module>(const ModuleContext&)> create;
  // The module's own settings (flags, environment variables, defaults, help).
  std::vector<Setting> settings;
};

// A module table row for the gRPC service `service`, whose name and default
// port are the (auditwatch.v1.module) and (auditwatch.v1.default_port)
// options of its contract.
ModuleDef ModuleFor(const google::protobuf::ServiceDescriptor* service, std::vector<std::string> dependencies,
                    std::vector<db::EmbeddedFile> (*migration_files)(),
                    std::function<std::unique_ptr<Module>(const ModuleContext&)> create,
                    std::vector<Setting> settings = {});

}  // namespace aw
