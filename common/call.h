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
#include "common/status.h"

namespace aw {

// A context for a call made while serving `parent`: the parent's deadline and
// cancellation propagate; a parent without a deadline gives the call
// `default_deadline` from now.
std::unique_ptr<grpc::ClientContext> ChildContext(const grpc::CallbackServerContext& parent,
                                                  absl::Duration default_deadline);

// A context for a call of background work (no caller): `deadline` from now.
std::unique_ptr<grpc::ClientContext> CallContext(absl::Duration deadline);

// Calls a paged method (a request with a `page` PageRequest field, a response
// with a `page` PageResponse) page after page with `page_size`, handing each
// response to `each`, until the last page or an error. `call` makes one call:
// (context, request, response) → status; `context` makes a context per page.
template <typename Request, typename Response>
absl::Status ForEachPage(
    Request request, int page_size, absl::string_view what,
    const std::function<std::unique_ptr<grpc::ClientContext>()>& context,
    const std::function<grpc::Status(grpc::ClientContext*, const Request&, Response*)>& call,
    const std::function<absl::Status(const Response&)>& each) {
  request.mutable_page()->set_page_size(page_size);
  request.mutable_page()->clear_page_token();
  for (;;) {
    std::unique_ptr<grpc::ClientContext> ctx = context();
    Response response;
    if (const grpc::Status s = call(ctx.get(), request, &response); !s.ok()) return FromGrpcStatus(s, what);
    AW_RETURN_IF_ERROR(each(response));
    if (response.page().next_page_token().empty()) return absl::OkStatus();
    request.mutable_page()->set_page_token(response.page().next_page_token());
  }
}

}  // namespace aw
