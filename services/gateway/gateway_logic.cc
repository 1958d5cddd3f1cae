#include "services/gateway/gateway_logic.h"

#include <algorithm>

#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "auditwatch/v1/options.pb.h"

namespace aw::gateway {

bool Route::idempotent() const { return unary() && descriptor->options().GetExtension(v1::idempotent); }

RouteTable RouteTable::FromGeneratedPool() {
  // Every service of the auditwatch.v1 package carries the (module) option;
  // the generated pool knows the files linked into the binary.
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const char* file : {"auditwatch/v1/ingest.proto", "auditwatch/v1/monitor.proto", "auditwatch/v1/audit.proto",
                           "auditwatch/v1/scoring.proto", "auditwatch/v1/report.proto",
                           "auditwatch/v1/gateway.proto"}) {
    const google::protobuf::FileDescriptor* f = pool->FindFileByName(file);
    if (f == nullptr) continue;
    for (int i = 0; i < f->service_count(); ++i) services.push_back(f->service(i));
  }
  return Of(services);
}

RouteTable RouteTable::Of(const std::vector<const google::protobuf::ServiceDescriptor*>& services) {
  RouteTable table;
  auto routed = [](const google::protobuf::ServiceDescriptor* service) {
    const std::string& module = service->options().GetExtension(v1::module);
    return !module.empty() && module != "gateway";
  };
  std::vector<const google::protobuf::Descriptor*> types;
  for (const auto* service : services) {
    if (!routed(service)) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      types.push_back(service->method(i)->input_type());
      types.push_back(service->method(i)->output_type());
    }
  }
  auto plans = std::make_shared<const UnitPlans>(types);
  for (const auto* service : services) {
    if (!routed(service)) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* m = service->method(i);
      Route route{.method = absl::StrCat("/", service->full_name(), "/", m->name()),
                  .backend = service->options().GetExtension(v1::module),
                  .descriptor = m,
                  .roles = RolesOf(m),
                  .request_units = plans->For(m->input_type()),
                  .response_units = plans->For(m->output_type())};
      table.routes_.emplace(route.method, std::move(route));
    }
  }
  table.plans_ = std::move(plans);
  return table;
}

const Route* RouteTable::Find(absl::string_view method) const {
  auto it = routes_.find(method);
  return it == routes_.end() ? nullptr : &it->second;
}

std::vector<std::string> RouteTable::Backends() const {
  std::vector<std::string> out;
  for (const auto& [method, route] : routes_) out.push_back(route.backend);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void RouteTable::ToProto(v1::ListRoutesResponse* out) const {
  for (const auto& [method, route] : routes_) {
    v1::Route* r = out->add_routes();
    r->set_method(method);
    r->set_backend(route.backend);
    r->set_client_streaming(route.client_streaming());
    r->set_server_streaming(route.server_streaming());
    r->set_idempotent(route.idempotent());
    for (v1::Role role : route.roles) r->add_roles(role);
  }
}

absl::Time BackendDeadline(const DeadlinePolicy& policy, bool streaming, absl::Time now, absl::Time caller) {
  const absl::Time cap = now + (streaming ? policy.stream_max : policy.unary_max);
  if (caller == absl::InfiniteFuture()) return streaming ? cap : now + policy.unary_default;
  return std::min(caller, cap);
}

absl::Status CheckDecodes(const Route& route, google::protobuf::io::ZeroCopyInputStream& in, size_t size,
                          std::unique_ptr<google::protobuf::Message>* scratch) {
  return DecodeAs(route.descriptor->input_type(), in, size, scratch, "the request");
}

absl::Status DecodeAs(const google::protobuf::Descriptor* type, google::protobuf::io::ZeroCopyInputStream& in,
                      size_t size, std::unique_ptr<google::protobuf::Message>* scratch, absl::string_view what) {
  if (*scratch == nullptr || (*scratch)->GetDescriptor() != type) {
    const google::protobuf::Message* prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(type);
    if (prototype == nullptr) return absl::InternalError(absl::StrCat("no message type ", type->full_name()));
    scratch->reset(prototype->New());
  }
  if (!(*scratch)->ParseFromZeroCopyStream(&in)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " does not decode as ", type->full_name(), " (", size, " bytes)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<v1::Role, RateLimiter::Limit>> RateLimiter::Parse(
    const std::map<std::string, std::string>& setting) {
  std::map<v1::Role, Limit> out;
  for (const auto& [name, value] : setting) {
    v1::Role role = v1::ROLE_UNSPECIFIED;
    if (!v1::Role_Parse(name, &role) || role == v1::ROLE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat("--rate_limits: unknown role ", name, " (ROLE_SYSTEM …)"));
    }
    double rate = 0;
    if (!absl::SimpleAtod(value, &rate) || !(rate > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rate_limits: ", name, " needs a positive number of calls a second, not \"", value, "\""));
    }
    out[role] = Limit{rate, 2 * rate};
  }
  return out;
}

const RateLimiter::Limit* RateLimiter::LimitOf(v1::Role role) const {
  auto it = limits_.find(role);
  return it == limits_.end() ? nullptr : &it->second;
}

std::optional<absl::Duration> RateLimiter::Take(const std::string& credential, v1::Role role, absl::Time now) {
  const Limit* limit = LimitOf(role);
  if (limit == nullptr) return std::nullopt;
  absl::MutexLock lock(&mu_);
  auto [it, fresh] = buckets_.try_emplace(credential, Bucket{limit->burst, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(limit->burst, b.tokens + absl::ToDoubleSeconds(now - b.updated) * limit->per_second);
    b.updated = now;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  return absl::Seconds((1 - b.tokens) / limit->per_second);
}

}  // namespace aw::gateway
