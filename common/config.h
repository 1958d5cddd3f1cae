// Process configuration: command-line flags, each with an AW_* environment
// fallback and a default (flag > environment > default). The process-wide
// settings are fields of Config; each module declares its own (Setting) next
// to its code, and reads their values from Config::settings.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aw {

// A setting of one module. Its environment variable is AW_ followed by the
// flag in capitals; its value is checked by kind when the configuration is
// read, so a bad value stops the process with exit code 2 naming the flag.
struct Setting {
  enum class Kind {
    kText,
    kDuration,   // "500ms", "10s", "24h"
    kCount,      // an integer in [min, max]
    kNamedUrls,  // "name=URL;name2=URL2"
  };
  std::string flag;
  Kind kind = Kind::kText;
  // The value when none is given: a valid value of the kind, or empty.
  std::string default_value;
  std::string help;
  // What --help says of the default when the value alone says too little.
  std::string default_text;
  int min = 0, max = 0;  // kCount
};

// The values of the modules' settings, checked and parsed. Asking for a flag
// no module declared (or with the wrong kind) is a bug and aborts.
class Settings {
 public:
  using Value = std::variant<std::string, absl::Duration, int, std::map<std::string, std::string>>;

  const std::string& Text(const std::string& flag) const;
  absl::Duration Duration(const std::string& flag) const;
  int Count(const std::string& flag) const;
  const std::map<std::string, std::string>& NamedUrls(const std::string& flag) const;

  void Set(const std::string& flag, Value value) { values_[flag] = std::move(value); }

 private:
  const Value& Get(const std::string& flag) const;
  std::map<std::string, Value> values_;
};

// A service the binary knows: its name (as used in --target), default port and
// the settings its module declares.
struct ServiceSpec {
  std::string name;
  int default_port = 0;
  std::vector<Setting> settings;
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
  // How often background loops look for due timer rows and outbox messages.
  absl::Duration timer_interval = absl::Seconds(5);
  // The deadline of a call to another service when the caller has none.
  absl::Duration call_timeout = absl::Seconds(30);
  // The most streams each change feed serves at once.
  int feed_max_subscribers = 64;
  // The key forwarded identities are signed and verified with (a file, so
  // that it is never on a command line or in a log); empty = a random key.
  std::string identity_key_file;
  // The modules' own settings.
  Settings settings;
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
