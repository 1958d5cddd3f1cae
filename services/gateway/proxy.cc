#include "services/gateway/proxy.h"

#include <atomic>
#include <optional>

#include <grpcpp/alarm.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/backoff.h"
#include "common/identity.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status.h"

namespace aw::gateway {
namespace {

absl::string_view View(const grpc::string_ref& s) { return absl::string_view(s.data(), s.size()); }

// gRPC's own headers are the transport's business, credentials stay at the
// gateway, and an identity a client sent is never passed on.
bool Forwarded(absl::string_view key) {
  return !absl::StartsWith(key, "grpc-") && !absl::StartsWith(key, ":") && key != "content-type" && key != "te" &&
         key != "user-agent" && key != "host" && !IsCredentialMetadata(key) && !IsIdentityMetadata(key);
}

std::string RequestId() {
  static std::atomic<uint64_t> next{0};
  static const uint64_t base = absl::ToUnixNanos(absl::Now());
  return absl::StrCat(absl::Hex(base, absl::kZeroPad16), "-", absl::Hex(++next, absl::kZeroPad8));
}

absl::Time TimeOf(std::chrono::system_clock::time_point t) {
  if (t == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(t);
}

// Checks that a request decodes as its method's input type.
absl::Status Decodes(const Route& route, grpc::ByteBuffer* request,
                     std::unique_ptr<google::protobuf::Message>* scratch) {
  grpc::ProtoBufferReader reader(request);
  return CheckDecodes(route, reader, request->Length(), scratch);
}

// The bytes of `message`, in place of what `buffer` held.
void Encode(const google::protobuf::Message& message, grpc::ByteBuffer* buffer) {
  grpc::Slice slice(message.SerializeAsString());
  *buffer = grpc::ByteBuffer(&slice, 1);
}

// Hands the backend's trailing metadata to the caller.
void CopyTrailing(const grpc::ClientContext& from, grpc::CallbackServerContext* to) {
  for (const auto& [key, value] : from.GetServerTrailingMetadata()) {
    if (Forwarded(View(key))) to->AddTrailingMetadata(std::string(View(key)), std::string(View(value)));
  }
}

}  // namespace

// What the access log and the metrics say of one call; written once, as it ends.
class Proxy::CallRecord {
 public:
  CallRecord(Proxy* proxy, const std::string& method) : proxy_(proxy), method_(method), start_(absl::Now()) {}

  void Caller(const v1::Principal& principal, std::string request_id) {
    absl::MutexLock lock(&mu_);
    subject_ = principal.subject();
    role_ = principal.roles().empty() ? "none" : v1::Role_Name(principal.roles(0));
    request_id_ = std::move(request_id);
  }
  void Unit(std::string unit) {
    absl::MutexLock lock(&mu_);
    unit_ = std::move(unit);
  }
  void In(size_t bytes) { in_ += bytes; }
  void Out(size_t bytes) { out_ += bytes; }

  // Logs the call and counts it; returns `status` to finish with.
  const grpc::Status& Done(const grpc::Status& status) {
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start_);
    absl::MutexLock lock(&mu_);
    const std::string code = GrpcCodeName(status.error_code());
    proxy_->metrics_->Call(method_, code, role_, elapsed);
    LogRecord(*proxy_->access_, {{"request_id", request_id_},
                                 {"subject", subject_},
                                 {"role", role_},
                                 {"method", method_},
                                 {"unit", unit_},
                                 {"code", code},
                                 {"latency_ms", elapsed * 1000},
                                 {"bytes_in", in_.load()},
                                 {"bytes_out", out_.load()}});
    return status;
  }

 private:
  Proxy* const proxy_;
  const std::string method_;
  const absl::Time start_;
  std::atomic<size_t> in_{0}, out_{0};
  absl::Mutex mu_;
  std::string subject_ ABSL_GUARDED_BY(mu_), role_ ABSL_GUARDED_BY(mu_) = "none", request_id_ ABSL_GUARDED_BY(mu_),
      unit_ ABSL_GUARDED_BY(mu_);
};

// What every forwarded call has: its route, its record, the backend call of
// the moment, and a cancellation by the caller that reaches the backend.
class Proxy::CallBase : public grpc::ServerGenericBidiReactor {
 public:
  CallBase(Proxy* proxy, grpc::GenericCallbackServerContext* ctx, const Route* route)
      : proxy_(proxy), ctx_(ctx), route_(route), record_(proxy, route->method) {}

  CallRecord& record() { return record_; }
  const Route& route() const { return *route_; }
  // Finishes the call, logged and counted.
  void End(const grpc::Status& status) { Finish(record_.Done(status)); }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (backend_ != nullptr) backend_->TryCancel();
  }

 protected:
  Proxy* const proxy_;
  grpc::GenericCallbackServerContext* const ctx_;
  const Route* const route_;
  // The caller limited to some units' subtrees: its requests are checked and
  // its answers filtered.
  bool Limited() const { return principal_.unit_codes_size() > 0; }
  // The first request message is in `decoded`: the access log names its unit.
  void Note(const google::protobuf::Message& decoded) {
    if (route_->request_units != nullptr && !unit_noted_) record_.Unit(FirstUnit(*route_->request_units, decoded));
    unit_noted_ = true;
  }
  // Filters the answer in `buffer` for a limited caller, leaving it without
  // the elements that name units outside, then calls `then` with the unit
  // outside that the answer itself names ("" when none) — at once, or, when
  // the answer names a unit the tree does not know (created since), on a
  // worker once the tree has been fetched again.
  void FilterAnswer(grpc::ByteBuffer* buffer, std::unique_ptr<google::protobuf::Message>* scratch,
                    std::function<void(std::string outside)> then) {
    grpc::ProtoBufferReader reader(buffer);
    if (!DecodeAs(route_->descriptor->output_type(), reader, buffer->Length(), scratch, "the answer").ok()) {
      then("");  // passed on as it is: the backend's answer is the backend's business
      return;
    }
    auto filter = [this, buffer, scratch](const UnitTree& tree) {
      bool changed = false;
      std::string outside = FilterUnits(*route_->response_units, scratch->get(), principal_, tree, &changed);
      if (outside.empty() && changed) Encode(**scratch, buffer);
      return outside;
    };
    std::shared_ptr<const UnitTree> tree = proxy_->units_->tree();
    if (tree != nullptr && FirstUnknownUnit(*route_->response_units, **scratch, *tree).empty()) {
      then(filter(*tree));
      return;
    }
    const bool queued = proxy_->workers_->TrySubmit([this, filter, then, since = proxy_->clock_->Now()] {
      (void)proxy_->units_->RefreshSince(since);
      std::shared_ptr<const UnitTree> fetched = proxy_->units_->tree();
      then(fetched != nullptr ? filter(*fetched) : "(a unit the gateway cannot check yet)");
    });
    if (!queued) then("(a unit the gateway is too busy to check)");
  }

  CallRecord record_;
  v1::Principal principal_;  // the caller, once known
  bool unit_noted_ = false;
  absl::Mutex mu_;
  std::unique_ptr<grpc::ClientContext> backend_ ABSL_GUARDED_BY(mu_);  // of the latest attempt
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// A unary call: read the request, call the backend's unary path, answer.
class Proxy::UnaryCall final : public CallBase {
 public:
  using CallBase::CallBase;

  // The caller is known: read its request.
  void Begin(v1::Principal principal) {
    principal_ = std::move(principal);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a unary call needs its request message"));
      return;
    }
    record_.In(request_.Length());
    if (absl::Status s = Decodes(*route_, &request_, &decoded_); !s.ok()) {
      End(ToGrpcStatus(s));
      return;
    }
    Note(*decoded_);
    if (!Limited() || route_->request_units == nullptr) {
      Call();
      return;
    }
    proxy_->AuthorizeUnits(*route_, principal_, decoded_.get(), [this](absl::Status s, bool changed) {
      if (!s.ok()) {
        End(ToGrpcStatus(s));
        return;
      }
      if (changed) Encode(*decoded_, &request_);
      Call();
    });
  }

  void OnDone() override { delete this; }

 private:
  // One attempt at the backend; an idempotent method the backend answers
  // UNAVAILABLE is tried again after a backoff, within the caller's deadline.
  void Call() {
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) {
        End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller"));
        return;
      }
      backend_ = proxy_->BackendContext(ctx_, *route_, principal_, record_);
      ++attempts_;
    }
    proxy_->stubs_.at(route_->backend)
        ->UnaryCall(backend_.get(), route_->method, grpc::StubOptions(), &request_, &response_,
                    [this](grpc::Status status) { Answered(std::move(status)); });
  }

  void Answered(grpc::Status status) {
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE && route_->idempotent()) {
      const absl::Duration wait = kRetry.After(attempts_);
      if (attempts_ < kMaxAttempts && absl::FromChrono(backend_->deadline()) > absl::Now() + wait) {
        retry_.Set(absl::ToChronoTime(absl::Now() + wait), [this](bool) { Call(); });
        return;
      }
    }
    CopyTrailing(*backend_, ctx_);
    if (!status.ok()) {
      End(status);
      return;
    }
    if (!Limited() || route_->response_units == nullptr) {
      Answer();
      return;
    }
    FilterAnswer(&response_, &decoded_, [this](const std::string& outside) {
      if (!outside.empty()) {
        End(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                         absl::StrCat("the answer is about unit ", outside, ", outside the units of ",
                                      principal_.subject())));
        return;
      }
      Answer();
    });
  }

  void Answer() {
    record_.Out(response_.Length());
    StartWriteAndFinish(&response_, grpc::WriteOptions(), record_.Done(grpc::Status::OK));
  }

  static constexpr int kMaxAttempts = 10;  // about 5.5 s of backoff in all
  static constexpr Backoff kRetry{.initial = absl::Milliseconds(50), .max = absl::Seconds(1)};

  grpc::ByteBuffer request_, response_;
  std::unique_ptr<google::protobuf::Message> decoded_;  // the request, then the answer
  grpc::Alarm retry_;
  int attempts_ = 0;
};

// A stream in either direction, bridged message by message: one message in
// flight each way, so each side waits for the other (flow control).
class Proxy::StreamCall final : public CallBase {
 public:
  StreamCall(Proxy* proxy, grpc::GenericCallbackServerContext* ctx, const Route* route)
      : CallBase(proxy, ctx, route), client_(this) {}

  // The caller is known: open the backend call and start both directions.
  void Begin(v1::Principal principal) {
    principal_ = std::move(principal);
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) {
        End(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller"));
        return;
      }
      backend_ = proxy_->BackendContext(ctx_, *route_, principal_, record_);
    }
    proxy_->stubs_.at(route_->backend)
        ->PrepareBidiStreamingCall(backend_.get(), route_->method, grpc::StubOptions(), &client_);
    // Its writes and reads are started from the caller's reactions: hold the
    // backend call open for the write side and the read side.
    client_.AddMultipleHolds(2);
    client_.StartRead(&response_);
    client_.StartCall();
    StartRead(&request_);
  }

  // --- The caller's side
  void OnReadDone(bool ok) override {
    if (!ok) {
      client_.StartWritesDone();  // the caller is done writing
      return;
    }
    record_.In(request_.Length());
    if (absl::Status s = Decodes(*route_, &request_, &scratch_); !s.ok()) {
      Refuse(s);
      return;
    }
    Note(*scratch_);
    if (!Limited() || route_->request_units == nullptr) {
      client_.StartWrite(&request_);
      return;
    }
    proxy_->AuthorizeUnits(*route_, principal_, scratch_.get(), [this](absl::Status s, bool changed) {
      if (!s.ok()) {
        Refuse(s);
        return;
      }
      if (changed) Encode(*scratch_, &request_);
      client_.StartWrite(&request_);
    });
  }

  void OnWriteDone(bool ok) override {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      finish = finished_;
    }
    if (finish) {
      FinishCall();
      return;
    }
    if (!ok) {  // the caller went away
      backend_->TryCancel();
      client_.RemoveHold();  // the read side ends
      return;
    }
    client_.StartRead(&response_);
  }

  // The backend call is done before the caller's is finished (see OnBackendDone).
  void OnDone() override { delete this; }

 private:
  // --- The backend's side
  class Backend final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Backend(StreamCall* call) : call_(call) {}
    void OnWriteDone(bool ok) override {
      if (ok) {
        call_->StartRead(&call_->request_);
      } else {
        RemoveHold();  // the write side ends; OnDone brings the status
      }
    }
    void OnWritesDoneDone(bool) override { RemoveHold(); }
    void OnReadDone(bool ok) override {
      if (!ok) {
        RemoveHold();  // the read side ends
        return;
      }
      if (!call_->Limited() || call_->route_->response_units == nullptr) {
        Pass();
        return;
      }
      call_->FilterAnswer(&call_->response_, &decoded_, [this](const std::string& outside) {
        if (outside.empty()) {
          Pass();
        } else {
          StartRead(&call_->response_);  // not for this caller: on to the next
        }
      });
    }
    // Hands the answer read to the caller.
    void Pass() {
      {
        absl::MutexLock lock(&call_->mu_);
        call_->writing_ = true;
      }
      call_->record_.Out(call_->response_.Length());
      call_->StartWrite(&call_->response_);
    }
    void OnDone(const grpc::Status& status) override { call_->OnBackendDone(status); }

   private:
    StreamCall* const call_;
    std::unique_ptr<google::protobuf::Message> decoded_;  // the latest answer, when filtered
  };

  // Nothing more is read from the caller; the backend answers what it has
  // taken in (the caller gets those answers), then the call ends with
  // `refusal`.
  void Refuse(const absl::Status& refusal) {
    {
      absl::MutexLock lock(&mu_);
      refused_ = ToGrpcStatus(refusal);
    }
    client_.StartWritesDone();
  }

  void OnBackendDone(const grpc::Status& status) {
    CopyTrailing(*backend_, ctx_);
    bool now = false;
    {
      absl::MutexLock lock(&mu_);
      status_ = refused_.has_value() ? *refused_ : status;
      finished_ = true;
      now = !writing_;  // else the caller's write in flight finishes it
    }
    if (now) FinishCall();
  }

  void FinishCall() {
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      status = status_;
    }
    End(status);
  }

  Backend client_;
  grpc::ByteBuffer request_, response_;
  std::unique_ptr<google::protobuf::Message> scratch_;  // the caller's side only
  bool writing_ ABSL_GUARDED_BY(mu_) = false;   // a response is on its way to the caller
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // the backend call is done
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> refused_ ABSL_GUARDED_BY(mu_);  // a request the gateway refused
};

Proxy::Proxy(const RouteTable* routes, std::map<std::string, std::shared_ptr<grpc::Channel>> backends,
             DeadlinePolicy deadlines, Authenticator* auth, RateLimiter* limiter, UnitDirectory* units,
             WorkerPool* workers, GatewayMetrics* metrics, Clock* clock)
    : routes_(routes),
      deadlines_(deadlines),
      auth_(auth),
      limiter_(limiter),
      units_(units),
      workers_(workers),
      metrics_(metrics),
      access_(RecordLogger("gateway.access")),
      clock_(clock) {
  for (auto& [name, channel] : backends) stubs_[name] = std::make_unique<grpc::GenericStub>(channel);
}

Proxy::~Proxy() = default;

std::unique_ptr<grpc::ClientContext> Proxy::BackendContext(grpc::GenericCallbackServerContext* ctx,
                                                           const Route& route, const v1::Principal& principal,
                                                           CallRecord& record) const {
  auto backend = std::make_unique<grpc::ClientContext>();
  for (const auto& [key, value] : ctx->client_metadata()) {
    if (Forwarded(View(key))) backend->AddMetadata(std::string(View(key)), std::string(View(value)));
  }
  v1::Identity identity;
  *identity.mutable_principal() = principal;
  identity.set_request_id(RequestId());
  ProcessIdentityKey().Sign(identity, backend.get());
  record.Caller(principal, identity.request_id());
  const absl::Time deadline =
      BackendDeadline(deadlines_, !route.unary(), clock_->Now(), TimeOf(ctx->deadline()));
  backend->set_deadline(absl::ToChronoTime(deadline));
  return backend;
}

grpc::ServerGenericBidiReactor* Proxy::CreateReactor(grpc::GenericCallbackServerContext* ctx) {
  const Route* route = routes_->Find(ctx->method());
  if (route == nullptr || stubs_.find(route->backend) == stubs_.end()) {
    class Unknown final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Unknown(const std::string& method) {
        Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                            absl::StrCat("the gateway routes no method ", method, " (ListRoutes lists them)")));
      }
      void OnDone() override { delete this; }
    };
    return new Unknown(ctx->method());
  }
  if (route->unary()) return Authenticated(new UnaryCall(this, ctx, route), ctx);
  return Authenticated(new StreamCall(this, ctx, route), ctx);
}

template <typename Call>
Call* Proxy::Authenticated(Call* call, grpc::GenericCallbackServerContext* ctx) {
  Credentials credentials = CredentialsOf(*ctx);
  auto begin = [this, call, ctx](const absl::StatusOr<v1::Principal>& principal) {
    if (!principal.ok()) {
      call->End(ToGrpcStatus(principal.status()));
      return;
    }
    if (absl::Status s = CheckRoles(call->route().roles, *principal, call->route().method); !s.ok()) {
      call->record().Caller(*principal, "");
      call->End(ToGrpcStatus(s));
      return;
    }
    // The rate of the caller's first role, per credential.
    const v1::Role role = principal->roles().empty() ? v1::ROLE_UNSPECIFIED : principal->roles(0);
    if (auto wait = limiter_->Take(principal->subject(), role, clock_->Now())) {
      const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(*wait, absl::Milliseconds(1))));
      ctx->AddTrailingMetadata("retry-after-ms", absl::StrCat(ms));
      call->record().Caller(*principal, "");
      call->End(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             absl::StrCat("rate limit of ", limiter_->LimitOf(role)->per_second, " calls a second for ",
                                          v1::Role_Name(role), " exceeded: retry after ", ms, " ms")));
      return;
    }
    call->Begin(*principal);
  };
  if (auto known = auth_->Known(credentials)) {
    begin(*known);
    return call;
  }
  // The key must be read from the store: on a worker, not on the reactor.
  const bool queued = workers_->TrySubmit(
      [this, begin, credentials = std::move(credentials)] { begin(auth_->Authenticate(credentials)); });
  if (!queued) {
    call->End(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "gateway busy: retry with backoff"));
  }
  return call;
}

void Proxy::AuthorizeUnits(const Route& route, const v1::Principal& principal, google::protobuf::Message* request,
                           std::function<void(absl::Status, bool changed)> then) {
  const bool changed = NarrowScopes(*route.request_units, request, principal);
  if (std::shared_ptr<const UnitTree> tree = units_->tree()) {
    std::string unknown;
    absl::Status s = CheckUnits(*route.request_units, *request, principal, *tree, &unknown);
    if (s.ok() || unknown.empty()) {
      then(std::move(s), changed);
      return;
    }
  }
  // A unit the tree does not know (created since, or no tree yet): fetch the
  // tree again, on a worker, and ask once more.
  const bool queued = workers_->TrySubmit([this, &route, &principal, request, changed, then, since = clock_->Now()] {
    const absl::Status fetched = units_->RefreshSince(since);
    std::shared_ptr<const UnitTree> tree = units_->tree();
    if (tree == nullptr) {
      then(absl::UnavailableError(absl::StrCat("the gateway cannot check units before it has the org tree: ",
                                               fetched.message())),
           false);
      return;
    }
    then(CheckUnits(*route.request_units, *request, principal, *tree), changed);
  });
  if (!queued) then(absl::ResourceExhaustedError("gateway busy: retry with backoff"), false);
}

}  // namespace aw::gateway
