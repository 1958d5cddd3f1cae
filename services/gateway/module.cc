#include "services/gateway/module.h"

#include <fstream>
#include <iterator>

#include "auditwatch/v1/gateway.grpc.pb.h"
#include "common/background.h"
#include "common/identity.h"
#include "common/log.h"
#include "services/gateway/backend_watch.h"
#include "services/gateway/gateway_metrics.h"
#include "services/gateway/gateway_service.h"
#include "services/gateway/proxy.h"
#include "services/gateway/unit_directory.h"

namespace aw::gateway {

std::vector<db::EmbeddedFile> MigrationFiles();  // generated from sql/

namespace {

std::vector<Setting> Settings() {
  using Kind = Setting::Kind;
  return {
      {.flag = "gateway_default_deadline",
       .kind = Kind::kDuration,
       .default_value = "30s",
       .help = "the deadline of a forwarded unary call that sets none"},
      {.flag = "gateway_max_deadline",
       .kind = Kind::kDuration,
       .default_value = "5m",
       .help = "the longest deadline a forwarded unary call may have"},
      {.flag = "jwt_key_file",
       .help = "file holding the HS256 key bearer tokens are signed and checked with; the same for every "
               "gateway replica",
       .default_text = "none (a random key: tokens hold for this process only)"},
      {.flag = "token_ttl",
       .kind = Kind::kDuration,
       .default_value = "15m",
       .help = "how long a token from IssueToken holds"},
      {.flag = "gateway_tls_cert_file",
       .help = "PEM certificate (chain) of the gateway's listener; with --gateway_tls_key_file, the gateway "
               "speaks TLS",
       .default_text = "none (plaintext)"},
      {.flag = "gateway_tls_key_file", .help = "PEM private key of --gateway_tls_cert_file", .default_text = "none"},
      {.flag = "rate_limits",
       .kind = Kind::kNamedUrls,
       .help = "calls a second each credential of a role may make (a burst of two seconds' worth), as "
               "ROLE_SYSTEM=2000;ROLE_UNIT_VIEWER=20",
       .default_text = "none (no limits)"},
      {.flag = "gateway_unit_refresh",
       .kind = Kind::kDuration,
       .default_value = "30s",
       .help = "how often the gateway fetches the org tree from ingest to check unit-limited callers (also "
               "at once, one fetch at a time, when a call names a unit it does not know)"},
      {.flag = "gateway_stream_deadline",
       .kind = Kind::kDuration,
       .default_value = "24h",
       .help = "the longest a forwarded stream may run (also its deadline when it sets none)"},
  };
}

// The gateway in the binary: the route table from the contracts, one channel
// per backend module, the org tree, the generic proxy, the gateway's own API
// and the watch over the backends.
class GatewayModule final : public Module {
 public:
  explicit GatewayModule(const ModuleContext& ctx)
      : routes_(RouteTable::FromGeneratedPool()),
        channels_(Channels(ctx, routes_)),
        store_(ctx.db, ctx.clock),
        auth_(&store_, JwtKey(ctx), ctx.config->settings.Duration("token_ttl"), ctx.clock),
        limiter_(Limits(ctx)),
        metrics_(ctx.metrics->registry()),
        usage_("gateway key usage", "gateway", absl::Minutes(1), ctx.clock, [this] { return auth_.FlushUsage(); }),
        units_(channels_.at("ingest"), ctx.config->dependency_timeout, ctx.clock),
        unit_refresh_("gateway org tree", "gateway", ctx.config->settings.Duration("gateway_unit_refresh"), ctx.clock,
                      [this] { return units_.Refresh(); }),
        watch_(Watched(routes_, channels_), ctx.config->dependency_timeout, &metrics_, ctx.report_health),
        watch_task_("gateway backend watch", "gateway", ctx.config->health_interval, ctx.clock, [this] {
          watch_.CheckAll();
          proxy_.FlushAccessLog();  // at least every second
          return absl::OkStatus();
        }),
        proxy_(&routes_, channels_,
               DeadlinePolicy{.unary_default = ctx.config->settings.Duration("gateway_default_deadline"),
                              .unary_max = ctx.config->settings.Duration("gateway_max_deadline"),
                              .stream_max = ctx.config->settings.Duration("gateway_stream_deadline")},
               &auth_, &limiter_, &units_, ctx.workers, &metrics_, ctx.clock),
        service_(&routes_, &store_, &auth_, ctx.workers),
        tls_(Tls(ctx)) {}

  std::vector<grpc::Service*> Services() override { return {&service_}; }
  grpc::CallbackGenericService* GenericService() override { return &proxy_; }
  std::shared_ptr<grpc::ServerCredentials> ListenerCredentials() override { return tls_; }
  absl::Status Start() override {
    usage_.Start();
    unit_refresh_.Start();
    watch_task_.Start();
    return absl::OkStatus();
  }
  void Stop() override {
    proxy_.FlushAccessLog();
    watch_task_.Stop();
    unit_refresh_.Stop();
    usage_.Stop();
  }

 private:
  static std::map<v1::Role, RateLimiter::Limit> Limits(const ModuleContext& ctx) {
    auto limits = RateLimiter::Parse(ctx.config->settings.NamedUrls("rate_limits"));
    if (!limits.ok()) {
      Logger("gateway")->critical("{}", std::string(limits.status().message()));
      std::exit(2);  // bad configuration
    }
    return *std::move(limits);
  }

  // TLS from --gateway_tls_cert_file and --gateway_tls_key_file; null when neither is set.
  static std::shared_ptr<grpc::ServerCredentials> Tls(const ModuleContext& ctx) {
    const std::string& cert = ctx.config->settings.Text("gateway_tls_cert_file");
    const std::string& key = ctx.config->settings.Text("gateway_tls_key_file");
    if (cert.empty() && key.empty()) return nullptr;
    auto read = [](const std::string& path) {
      std::ifstream in(path, std::ios::binary);
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({read(key), read(cert)});
    if (options.pem_key_cert_pairs[0].private_key.empty() || options.pem_key_cert_pairs[0].cert_chain.empty()) {
      Logger("gateway")->critical("--gateway_tls_cert_file and --gateway_tls_key_file: both must name readable PEM files");
      std::exit(2);  // bad configuration
    }
    return grpc::SslServerCredentials(options);
  }

  // The token key from --jwt_key_file, or a random one.
  static std::string JwtKey(const ModuleContext& ctx) {
    const std::string& file = ctx.config->settings.Text("jwt_key_file");
    if (file.empty()) return IdentityKey::Random().Mac("jwt");
    auto key = ReadKeyFile(file, "jwt_key_file");
    if (!key.ok()) {
      Logger("gateway")->critical("{}", std::string(key.status().message()));
      std::exit(2);  // bad configuration
    }
    return *std::move(key);
  }

  static std::map<std::string, std::shared_ptr<grpc::Channel>> Channels(const ModuleContext& ctx,
                                                                       const RouteTable& routes) {
    std::map<std::string, std::shared_ptr<grpc::Channel>> out;
    for (const std::string& backend : routes.Backends()) {
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(-1);  // the backends' own limits apply
      // A backend that comes back is reached again within a second.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      // What the gateway holds of one answer stream is bounded: a fixed
      // receive window per stream instead of one that grows with the
      // measured bandwidth-delay product, which on a fast link reaches
      // megabytes per stream.
      args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
      args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1 << 20);
      out[backend] = ctx.channel_to(backend, args);
    }
    return out;
  }

  // Each backend's health check name and channel.
  static std::map<std::string, BackendWatch::Backend> Watched(
      const RouteTable& routes, const std::map<std::string, std::shared_ptr<grpc::Channel>>& channels) {
    std::map<std::string, BackendWatch::Backend> out;
    for (const auto& [method, route] : routes.routes()) {
      out[route.backend] = {route.descriptor->service()->full_name(), channels.at(route.backend)};
    }
    return out;
  }

  RouteTable routes_;
  const std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // by backend module
  GatewayStore store_;
  Authenticator auth_;
  RateLimiter limiter_;
  GatewayMetrics metrics_;
  PeriodicTask usage_;
  UnitDirectory units_;
  PeriodicTask unit_refresh_;
  BackendWatch watch_;
  PeriodicTask watch_task_;
  Proxy proxy_;
  GatewayServiceImpl service_;
  const std::shared_ptr<grpc::ServerCredentials> tls_;  // null: plaintext
};

}  // namespace

ModuleDef Definition() {
  return ModuleFor(google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
                       v1::GatewayService::service_full_name()),
                   // Serves whatever backends answer: BackendWatch shows which.
                   /*dependencies=*/{}, &MigrationFiles,
                   [](const ModuleContext& ctx) { return std::make_unique<GatewayModule>(ctx); }, Settings());
}

}  // namespace aw::gateway
