// Process configuration: command-line flags, each with an AW_* environment
// fallback and a default (flag > environment > default).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aw {

// A service the binary knows: its name (as used in --target) and default port.
struct ServiceSpec {
  std::string name;
  int default_port = 0;
};

struct Config {
  // Services this process runs, as given by --target ("all" expanded), in the
  // order of the known-services table.
  std::vector<std::string> targets;
  std::string listen_host = "0.0.0.0";
  // gRPC port of every known service (0 = pick a free port).
  std::map<std::string, int> ports;
  // Explicit addresses of services (--<svc>_addr / AW_<SVC>_ADDR); empty when
  // not set, in which case an in-process service's own port or
  // 127.0.0.1:<port> is used.
  std::map<std::string, std::string> addrs;
  // Port of the HTTP /metrics endpoint (0 = pick a free port).
  int metrics_port = 9100;
  std::string database_url;
  int db_pool_size = 8;
  int workers = 4;
  int worker_queue = 256;
  absl::Duration drain_timeout = absl::Seconds(10);
  absl::Duration health_interval = absl::Seconds(1);
  absl::Duration dependency_timeout = absl::Milliseconds(500);
  std::string log_level = "info";
  // When set, the bound ports are written here as JSON once the servers listen.
  std::string ports_file;
  // Read-only databases that scheduled pulls read from, by name.
  std::map<std::string, std::string> data_sources;
  // How often due timers (scheduled pulls, …) are looked for.
  absl::Duration timer_interval = absl::Seconds(5);
  // Notifications: the SMS/webhook gateway (empty = write them to the log),
  // how long a unit's events are grouped into one message, how often an event
  // still open is notified again, and how many delivery attempts are made.
  std::string sms_gateway_url;
  absl::Duration notify_group_window = absl::Seconds(60);
  absl::Duration notify_repeat = absl::Hours(24);
  int notify_max_attempts = 8;
  // The longest freeze a whitelist entry may have.
  absl::Duration max_whitelist_freeze = absl::Hours(24 * 90);
  bool help = false;
};

using GetEnv = std::function<std::optional<std::string>(const std::string&)>;

// Parses `args` (without the program name). Unknown flags, malformed values
// and unknown targets are INVALID_ARGUMENT naming the flag and its environment
// variable.
absl::StatusOr<Config> ParseConfig(const std::vector<std::string>& args, const GetEnv& env,
                                   const std::vector<ServiceSpec>& services);

// Usage text listing every flag, its environment variable and default.
std::string ConfigUsage(const std::vector<ServiceSpec>& services);

// Reads the real process environment.
std::optional<std::string> ProcessEnv(const std::string& name);

}  // namespace aw
