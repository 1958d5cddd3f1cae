// Calls from one service to another through its gRPC contract: the client
// context (the caller's deadline and cancellation carry over; a configured
// default deadline otherwise), the conversion of the answer's status, and a
// loop over the pages of a List…/Query… method. Statuses of answers convert
// with FromGrpcStatus (common/status.h).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/paging.h"
#include "common/status.h"

namespace aw {

// A context for a call made while serving `parent`: the parent's deadline and
// cancellation propagate; a parent without a deadline gives the call
// `default_deadline` from now.
std::unique_ptr<grpc::ClientContext> ChildContext(const grpc::CallbackServerContext& parent,
                                                  absl::Duration default_deadline);

// A context for a call of background work (no caller): `deadline` from now.
std::unique_ptr<grpc::ClientContext> CallContext(absl::Duration deadline);

// Calls the paged method `method` of `stub` (a request with a `page`
// PageRequest field, a response with a `page` PageResponse) page after page,
// in the largest pages, handing each response to `each`, until the last page
// or an error; `what` names the callee and method in errors, `context` makes
// a context per page.
//
//   ForEachPage(*stub, &v1::IngestService::Stub::ListUnits, request, "ingest ListUnits",
//               [&] { return CallContext(timeout); }, [&](const v1::ListUnitsResponse& page) { … });
template <typename Stub, typename Request, typename Response, typename Each>
absl::Status ForEachPage(Stub& stub,
                         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                         Request request, absl::string_view what,
                         const std::function<std::unique_ptr<grpc::ClientContext>()>& context, Each each) {
  request.mutable_page()->set_page_size(kMaxPageSize);
  request.mutable_page()->clear_page_token();
  for (;;) {
    std::unique_ptr<grpc::ClientContext> ctx = context();
    Response response;
    if (const grpc::Status s = (stub.*method)(ctx.get(), request, &response); !s.ok()) {
      return FromGrpcStatus(s, what);
    }
    AW_RETURN_IF_ERROR(each(response));
    if (response.page().next_page_token().empty()) return absl::OkStatus();
    request.mutable_page()->set_page_token(response.page().next_page_token());
  }
}

}  // namespace aw
