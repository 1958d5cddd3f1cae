// Gateway rules with no I/O, tested without a server: the route table built
// from the contracts' descriptors (every public method of every service but
// the gateway's own, by full name), the deadline a forwarded call gets, the
// check that a request decodes as its method's input type, and the rate
// limits per credential.
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/zero_copy_stream.h>
#include <google/protobuf/message.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auditwatch/v1/gateway.pb.h"
#include "services/gateway/access_logic.h"

namespace aw::gateway {

namespace v1 = ::auditwatch::v1;

// One forwarded method.
struct Route {
  std::string method;   // "/auditwatch.v1.IngestService/IngestReadings"
  std::string backend;  // the module that serves it: "ingest"
  const google::protobuf::MethodDescriptor* descriptor = nullptr;
  bool client_streaming() const { return descriptor->client_streaming(); }
  bool server_streaming() const { return descriptor->server_streaming(); }
  bool unary() const { return !client_streaming() && !server_streaming(); }
  // Retried on UNAVAILABLE (the method's (idempotent) option; unary only).
  bool idempotent() const;
  // Who may call it (its (access) option), ROLE_CENTRE_ADMIN first.
  std::vector<v1::Role> roles;
  // Where its request and response name units; null where they name none.
  const UnitPlan* request_units = nullptr;
  const UnitPlan* response_units = nullptr;
};

// Every public method of the services in `files` (by the (module) option of
// each service), the gateway's own service left out. A method added to a
// .proto later is routed with no code change.
class RouteTable {
 public:
  // The services of the generated pool that carry the (module) option.
  static RouteTable FromGeneratedPool();
  // The services of `services` (full names), for tests.
  static RouteTable Of(const std::vector<const google::protobuf::ServiceDescriptor*>& services);

  // nullptr when no route has this full method name.
  const Route* Find(absl::string_view method) const;
  const std::map<std::string, Route, std::less<>>& routes() const { return routes_; }
  // The modules routes lead to, sorted.
  std::vector<std::string> Backends() const;

  void ToProto(v1::ListRoutesResponse* out) const;

 private:
  std::map<std::string, Route, std::less<>> routes_;
  std::shared_ptr<const UnitPlans> plans_;  // the routes' plans point into it
};

// How long a forwarded call may run.
struct DeadlinePolicy {
  absl::Duration unary_default = absl::Seconds(30);
  absl::Duration unary_max = absl::Minutes(5);
  // Streams (feeds, bulk ingest) live long: the default is the maximum.
  absl::Duration stream_max = absl::Hours(24);
};

// The deadline of the backend call: the caller's (`caller`, InfiniteFuture
// when it set none), capped by the maximum of the call's kind; the default
// when it set none.
absl::Time BackendDeadline(const DeadlinePolicy& policy, bool streaming, absl::Time now, absl::Time caller);

// OK when the `size` bytes of `in` decode as a `route`'s input message;
// INVALID_ARGUMENT saying so otherwise (behind the gateway, gRPC's C++
// library would answer such a message with an empty UNIMPLEMENTED). The
// decoded message is left in `scratch`, which is reused between calls.
absl::Status CheckDecodes(const Route& route, google::protobuf::io::ZeroCopyInputStream& in, size_t size,
                          std::unique_ptr<google::protobuf::Message>* scratch);
// The same for any message type: OK when the bytes decode as `type`, left in
// `scratch`; INVALID_ARGUMENT saying `what` does not decode otherwise.
absl::Status DecodeAs(const google::protobuf::Descriptor* type, google::protobuf::io::ZeroCopyInputStream& in,
                      size_t size, std::unique_ptr<google::protobuf::Message>* scratch, absl::string_view what);

// Token buckets per credential, with a rate per role: a caller of `role` may
// make `per_second` calls a second on average, `burst` at once. A role with
// no limit is not limited. Thread-safe.
class RateLimiter {
 public:
  struct Limit {
    double per_second = 0;
    double burst = 0;
  };
  // "ROLE_SYSTEM=2000;ROLE_UNIT_VIEWER=20" (calls a second; the burst is two
  // seconds' worth): the limits of --rate_limits, INVALID_ARGUMENT naming what
  // is wrong.
  static absl::StatusOr<std::map<v1::Role, Limit>> Parse(const std::map<std::string, std::string>& setting);

  explicit RateLimiter(std::map<v1::Role, Limit> limits) : limits_(std::move(limits)) {}

  // Takes a token for `credential` (of `role`) at `now`: std::nullopt when the
  // call may go, else how long until it could.
  std::optional<absl::Duration> Take(const std::string& credential, v1::Role role, absl::Time now);
  const Limit* LimitOf(v1::Role role) const;

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  const std::map<v1::Role, Limit> limits_;
  absl::Mutex mu_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aw::gateway
