#include "common/config.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"

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

// Checks `v` by the setting's kind and parses it into `out`.
absl::Status ParseSetting(const Setting& setting, const std::string& v, Settings::Value* out) {
  switch (setting.kind) {
    case Setting::Kind::kText:
      *out = v;
      return absl::OkStatus();
    case Setting::Kind::kDuration: {
      absl::Duration d;
      if (!absl::ParseDuration(v, &d) || d < absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat("expected a duration such as 500ms or 10s, got \"", v, "\""));
      }
      *out = d;
      return absl::OkStatus();
    }
    case Setting::Kind::kCount: {
      int n = 0;
      if (!absl::SimpleAtoi(v, &n) || n < setting.min || n > setting.max) {
        return absl::InvalidArgumentError(
            absl::StrCat("expected an integer in [", setting.min, ", ", setting.max, "], got \"", v, "\""));
      }
      *out = n;
      return absl::OkStatus();
    }
    case Setting::Kind::kNamedUrls: {
      std::map<std::string, std::string> urls;
      for (absl::string_view part : absl::StrSplit(v, ';', absl::SkipWhitespace())) {
        const size_t eq = part.find('=');
        const std::string name(absl::StripAsciiWhitespace(part.substr(0, eq)));
        if (eq == absl::string_view::npos || name.empty() || eq + 1 >= part.size()) {
          return absl::InvalidArgumentError(absl::StrCat("expected name=URL;name2=URL2, got \"", part, "\""));
        }
        urls[name] = std::string(absl::StripAsciiWhitespace(part.substr(eq + 1)));
      }
      *out = std::move(urls);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unknown setting kind");
}

Option ModuleOption(const Setting& setting) {
  const std::string shown = !setting.default_text.empty() ? setting.default_text : setting.default_value;
  return {setting.flag, "AW_" + absl::AsciiStrToUpper(setting.flag), shown, setting.help,
          [setting](Config& c, const std::string& v) {
            Settings::Value value;
            AW_RETURN_IF_ERROR(ParseSetting(setting, v, &value));
            c.settings.Set(setting.flag, std::move(value));
            return absl::OkStatus();
          }};
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
      {"timer_interval", "AW_TIMER_INTERVAL", "5s",
       "how often background loops look for due timer rows and outbox messages",
       DurationSetter(&Config::timer_interval)},
      {"call_timeout", "AW_CALL_TIMEOUT", "30s",
       "deadline of a call to another service when the caller gave none",
       DurationSetter(&Config::call_timeout)},
      {"identity_key_file", "AW_IDENTITY_KEY_FILE", "none (a random key: one process only)",
       "file holding the key the gateway signs forwarded identities with and the services verify them "
       "with; the same file for every process of a deployment",
       StringSetter(&Config::identity_key_file)},
      {"feed_max_subscribers", "AW_FEED_MAX_SUBSCRIBERS", "64",
       "streams each change feed serves at once; more are refused with RESOURCE_EXHAUSTED",
       IntSetter(&Config::feed_max_subscribers, 1, 100000)},
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
    for (const Setting& setting : s.settings) options.push_back(ModuleOption(setting));
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
  for (const ServiceSpec& s : services) {
    config.ports[s.name] = s.default_port;
    for (const Setting& setting : s.settings) {
      Settings::Value value;
      if (absl::Status parsed = ParseSetting(setting, setting.default_value, &value); !parsed.ok()) {
        return absl::InternalError(
            absl::StrCat("the default of --", setting.flag, " is invalid: ", parsed.message()));
      }
      config.settings.Set(setting.flag, std::move(value));
    }
  }
  std::string target = "all";
  const std::vector<Option> options = Options(services, &target);
  for (size_t i = 0; i < options.size(); ++i) {
    for (size_t j = i + 1; j < options.size(); ++j) {
      if (options[i].flag == options[j].flag) {
        return absl::InternalError(absl::StrCat("--", options[i].flag, " is declared twice"));
      }
    }
  }

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

const Settings::Value& Settings::Get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) {
    std::fprintf(stderr, "auditwatch: bug: setting --%s is read but no module declares it\n", flag.c_str());
    std::abort();
  }
  return it->second;
}

namespace {

template <typename T>
const T& As(const Settings::Value& value, const std::string& flag) {
  if (const T* v = std::get_if<T>(&value)) return *v;
  std::fprintf(stderr, "auditwatch: bug: setting --%s is read as another kind than declared\n", flag.c_str());
  std::abort();
}

}  // namespace

const std::string& Settings::Text(const std::string& flag) const { return As<std::string>(Get(flag), flag); }
absl::Duration Settings::Duration(const std::string& flag) const { return As<absl::Duration>(Get(flag), flag); }
int Settings::Count(const std::string& flag) const { return As<int>(Get(flag), flag); }
const std::map<std::string, std::string>& Settings::NamedUrls(const std::string& flag) const {
  return As<std::map<std::string, std::string>>(Get(flag), flag);
}

std::optional<std::string> ProcessEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

}  // namespace aw
