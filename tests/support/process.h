// Runs the real auditwatch binary for end-to-end tests: every port 0, bound
// ports read back from its ports file, logs captured to a file. The binary is
// the one built beside the tests, or $AW_BINARY (to measure another build).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"

namespace aw::testing {

class AuditwatchProcess {
 public:
  // Starts `auditwatch --target=<target>` against `database_url` with
  // `extra_args` appended, and waits until it listens.
  AuditwatchProcess(const std::string& target, const std::string& database_url,
                    const std::vector<std::string>& extra_args = {});
  ~AuditwatchProcess();  // SIGKILL if still running
  AuditwatchProcess(const AuditwatchProcess&) = delete;
  AuditwatchProcess& operator=(const AuditwatchProcess&) = delete;

  int port(const std::string& service) const { return ports_.at(service); }
  int metrics_port() const { return ports_.at("metrics"); }
  std::string address(const std::string& service) const;
  std::shared_ptr<grpc::Channel> Channel(const std::string& service) const;

  // Sends `sig` and waits for the exit; returns the exit code (128+signal when
  // killed by one, -1 on timeout).
  int Stop(int sig, absl::Duration timeout = absl::Seconds(30));
  // Sends `sig` and returns at once.
  void Signal(int sig);
  // Resident memory of the process, in KiB (VmRSS); -1 when it is gone.
  int64_t RssKib() const;
  // Waits for the process to exit by itself; same return values as Stop.
  int WaitExit(absl::Duration timeout);
  bool running() const { return pid_ > 0; }
  std::string Logs() const;

 private:
  int pid_ = -1;
  std::string dir_;
  std::map<std::string, int> ports_;
};

// A channel to `address` whose every call carries the metadata `key: value`
// (credentials for the gateway: "x-api-key" or "authorization").
std::shared_ptr<grpc::Channel> ChannelWithMetadata(const std::string& address, const std::string& key,
                                                   const std::string& value,
                                                   const grpc::ChannelArguments& args = grpc::ChannelArguments());

// The value of the first series `name{…}` in the process's /metrics whose
// labels contain `label` (e.g. `feed="readings"`); -1 when there is none.
double MetricValue(const AuditwatchProcess& process, const std::string& name, const std::string& label = "");

// Creates the first administrator key ("ops.admin") through the gateway at
// `channel`, without credentials (the bootstrap); its secret in `secret`.
grpc::Status BootstrapAdminKey(const std::shared_ptr<grpc::Channel>& channel, std::string* secret);

// grpc.health.v1 status of `service` at `address`: "SERVING", "NOT_SERVING",
// or "UNREACHABLE: <why>".
std::string HealthOf(const std::string& address, const std::string& service);

// Polls HealthOf until it equals `want` or `timeout` passes; returns the last status.
std::string WaitForHealth(const std::string& address, const std::string& service,
                          const std::string& want, absl::Duration timeout = absl::Seconds(20));

// Polls `pred` every 20 ms until it holds or `timeout` passes; its last answer.
bool WaitUntil(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(30));

// GET http://127.0.0.1:<port><path>; the body, or "" on failure.
std::string HttpGet(int port, const std::string& path);

// Runs a shell command; returns its exit status and fills `output` with stdout+stderr.
int RunCommand(const std::string& command, std::string* output);

}  // namespace aw::testing
