#include "common/config.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace aw {
namespace {

constexpr int kDefaultMetricsPort = 9100;
constexpr int kBaseGrpcPort = 7100;

using Setter = std::function<absl::Status(Config&, const std::string&)>;

struct Option {
  std::string flag;  // without the leading "--"
  std::string env;
  std::string default_text;
  std::string help;
  Setter set;
};

Setter IntSetter(int Config::*field, int min, int max) {
  return [=](Config& c, const std::string& v) {
    int n = 0;
    if (!absl::SimpleAtoi(v, &n) || n < min || n > max) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected an integer in [", min, ", ", max, "], got \"", v, "\""));
    }
    c.*field = n;
    return absl::OkStatus();
  };
}

Setter DurationSetter(absl::Duration Config::*field) {
  return [=](Config& c, const std::string& v) {
    absl::Duration d;
    if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("expected a duration such as 500ms or 10s, got \"", v, "\""));
    }
    c.*field = d;
    return absl::OkStatus();
  };
}

Setter StringSetter(std::string Config::*field) {
  return [=](Config& c, const std::string& v) {
    c.*field = v;
    return absl::OkStatus();
  };
}

std::vector<Option> Options(const std::vector<ServiceSpec>& services, std::string* target) {
  std::vector<Option> options = {
      {"target", "AW_TARGET", "all", "services to run: all, or a comma list of service names",
       [target](Config&, const std::string& v) {
         *target = v;
         return absl::OkStatus();
       }},
      {"listen_host", "AW_LISTEN_HOST", "0.0.0.0", "address the gRPC servers bind",
       StringSetter(&Config::listen_host)},
      {"metrics_port", "AW_METRICS_PORT", "9100 (+ the service's offset when run alone)",
       "port of the Prometheus /metrics endpoint; 0 picks a free port",
       IntSetter(&Config::metrics_port, 0, 65535)},
      {"database_url", "AW_DATABASE_URL", "host=127.0.0.1 port=5432 user=postgres dbname=auditwatch",
       "PostgreSQL connection string (URI or key=value)", StringSetter(&Config::database_url)},
      {"db_pool_size", "AW_DB_POOL_SIZE", "8", "database connections per service",
       IntSetter(&Config::db_pool_size, 2, 256)},
      {"workers", "AW_WORKERS", "4", "worker threads per service for blocking work",
       IntSetter(&Config::workers, 1, 256)},
      {"worker_queue", "AW_WORKER_QUEUE", "256",
       "queued calls per service before RESOURCE_EXHAUSTED", IntSetter(&Config::worker_queue, 1, 1 << 20)},
      {"drain_timeout", "AW_DRAIN_TIMEOUT", "10s", "time in-flight calls get on shutdown",
       DurationSetter(&Config::drain_timeout)},
      {"health_interval", "AW_HEALTH_INTERVAL", "1s",
       "how often database and dependencies are checked", DurationSetter(&Config::health_interval)},
      {"dependency_timeout", "AW_DEPENDENCY_TIMEOUT", "500ms",
       "deadline of a dependency health check", DurationSetter(&Config::dependency_timeout)},
      {"log_level", "AW_LOG_LEVEL", "info", "trace, debug, info, warn, error",
       [](Config& c, const std::string& v) {
         static const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn",
                                                          "error", "critical", "off"};
         if (std::find(kLevels.begin(), kLevels.end(), v) == kLevels.end()) {
           return absl::InvalidArgumentError(absl::StrCat("unknown log level \"", v, "\""));
         }
         c.log_level = v;
         return absl::OkStatus();
       }},
      {"ports_file", "AW_PORTS_FILE", "", "write the bound ports here as JSON",
       StringSetter(&Config::ports_file)},
      {"timer_interval", "AW_TIMER_INTERVAL", "5s", "how often due timers (scheduled pulls) are claimed",
       DurationSetter(&Config::timer_interval)},
      {"sms_gateway_url", "AW_SMS_GATEWAY_URL", "none (notifications go to the log)",
       "HTTP endpoint that notifications are POSTed to as JSON", StringSetter(&Config::sms_gateway_url)},
      {"notify_group_window", "AW_NOTIFY_GROUP_WINDOW", "60s",
       "events of a unit raised within this window go out as one message",
       DurationSetter(&Config::notify_group_window)},
      {"notify_repeat", "AW_NOTIFY_REPEAT", "24h", "an event still open is notified again after this long",
       DurationSetter(&Config::notify_repeat)},
      {"notify_max_attempts", "AW_NOTIFY_MAX_ATTEMPTS", "8", "delivery attempts before a notification fails",
       IntSetter(&Config::notify_max_attempts, 1, 100)},
      {"max_whitelist_freeze", "AW_MAX_WHITELIST_FREEZE", "2160h (90 days)",
       "the longest freeze period a whitelist entry may have", DurationSetter(&Config::max_whitelist_freeze)},
      {"data_sources", "AW_DATA_SOURCES", "",
       "read-only databases for scheduled pulls: name=URL;name2=URL2",
       [](Config& c, const std::string& v) {
         c.data_sources.clear();
         for (absl::string_view part : absl::StrSplit(v, ';', absl::SkipWhitespace())) {
           const size_t eq = part.find('=');
           const std::string name(absl::StripAsciiWhitespace(part.substr(0, eq)));
           if (eq == absl::string_view::npos || name.empty() || eq + 1 >= part.size()) {
             return absl::InvalidArgumentError(
                 absl::StrCat("expected name=URL;name2=URL2, got \"", part, "\""));
           }
           c.data_sources[name] = std::string(absl::StripAsciiWhitespace(part.substr(eq + 1)));
         }
         return absl::OkStatus();
       }},
  };
  for (const ServiceSpec& s : services) {
    const std::string upper = absl::AsciiStrToUpper(s.name);
    options.push_back({s.name + "_port", "AW_" + upper + "_PORT", absl::StrCat(s.default_port),
                       "gRPC port of " + s.name + "; 0 picks a free port",
                       [name = s.name](Config& c, const std::string& v) {
                         int n = 0;
                         if (!absl::SimpleAtoi(v, &n) || n < 0 || n > 65535) {
                           return absl::InvalidArgumentError(
                               absl::StrCat("expected a port in [0, 65535], got \"", v, "\""));
                         }
                         c.ports[name] = n;
                         return absl::OkStatus();
                       }});
    options.push_back({s.name + "_addr", "AW_" + upper + "_ADDR", "this process, or 127.0.0.1:<port>",
                       "address other services use to reach " + s.name,
                       [name = s.name](Config& c, const std::string& v) {
                         if (!v.empty() && v.find(':') == std::string::npos) {
                           return absl::InvalidArgumentError(
                               absl::StrCat("expected host:port, got \"", v, "\""));
                         }
                         c.addrs[name] = v;
                         return absl::OkStatus();
                       }});
  }
  return options;
}

absl::Status WithSource(const absl::Status& s, const Option& o, bool from_env) {
  return absl::InvalidArgumentError(absl::StrCat(
      from_env ? o.env : "--" + o.flag, " (", from_env ? "--" + o.flag : o.env, "): ", s.message()));
}

absl::StatusOr<std::vector<std::string>> ResolveTargets(const std::string& text,
                                                        const std::vector<ServiceSpec>& services) {
  std::vector<std::string> wanted;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    wanted.emplace_back(absl::StripAsciiWhitespace(part));
  }
  if (wanted.empty()) return absl::InvalidArgumentError("--target (AW_TARGET): empty");
  std::vector<std::string> targets;
  for (const ServiceSpec& s : services) {
    const bool selected = std::find(wanted.begin(), wanted.end(), s.name) != wanted.end() ||
                          std::find(wanted.begin(), wanted.end(), "all") != wanted.end();
    if (selected) targets.push_back(s.name);
  }
  for (const std::string& w : wanted) {
    const bool known = w == "all" || std::any_of(services.begin(), services.end(),
                                                 [&](const ServiceSpec& s) { return s.name == w; });
    if (!known) {
      std::string names = "all";
      for (const ServiceSpec& s : services) absl::StrAppend(&names, ", ", s.name);
      return absl::InvalidArgumentError(
          absl::StrCat("--target (AW_TARGET): unknown service \"", w, "\"; known: ", names));
    }
    if (std::count(wanted.begin(), wanted.end(), w) > 1) {
      return absl::InvalidArgumentError(absl::StrCat("--target (AW_TARGET): \"", w, "\" given twice"));
    }
  }
  if (std::find(wanted.begin(), wanted.end(), "all") != wanted.end() && wanted.size() > 1) {
    return absl::InvalidArgumentError("--target (AW_TARGET): \"all\" cannot be combined with names");
  }
  return targets;
}

}  // namespace

absl::StatusOr<Config> ParseConfig(const std::vector<std::string>& args, const GetEnv& env,
                                   const std::vector<ServiceSpec>& services) {
  Config config;
  config.database_url = "host=127.0.0.1 port=5432 user=postgres dbname=auditwatch";
  for (const ServiceSpec& s : services) config.ports[s.name] = s.default_port;
  std::string target = "all";
  const std::vector<Option> options = Options(services, &target);

  std::map<std::string, std::string> from_flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      config.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg, "\""));
    }
    std::string name = arg.substr(2);
    std::string value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": missing value"));
    }
    const bool known = std::any_of(options.begin(), options.end(),
                                   [&](const Option& o) { return o.flag == name; });
    if (!known) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    from_flags[name] = value;
  }

  bool metrics_port_set = false;
  for (const Option& o : options) {
    if (auto it = from_flags.find(o.flag); it != from_flags.end()) {
      if (auto s = o.set(config, it->second); !s.ok()) return WithSource(s, o, false);
    } else if (auto v = env(o.env); v.has_value()) {
      if (auto s = o.set(config, *v); !s.ok()) return WithSource(s, o, true);
    } else {
      continue;
    }
    if (o.flag == "metrics_port") metrics_port_set = true;
  }

  auto targets = ResolveTargets(target, services);
  if (!targets.ok()) return targets.status();
  config.targets = *std::move(targets);
  if (!metrics_port_set) {
    config.metrics_port = kDefaultMetricsPort;
    if (config.targets.size() == 1) {
      for (const ServiceSpec& s : services) {
        if (s.name == config.targets[0]) config.metrics_port += s.default_port - kBaseGrpcPort;
      }
    }
  }
  return config;
}

std::string ConfigUsage(const std::vector<ServiceSpec>& services) {
  std::string target;
  std::string out = "usage: auditwatch [--flag=value ...]\n\n"
                    "Every flag may also come from its environment variable; a flag wins.\n\n";
  for (const Option& o : Options(services, &target)) {
    absl::StrAppend(&out, "  --", o.flag, " (", o.env, ", default: ",
                    o.default_text.empty() ? "none" : o.default_text, ")\n      ", o.help, "\n");
  }
  return out;
}

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

}  // namespace aw
