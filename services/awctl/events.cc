// awctl events: the warnings the caller may see, newest judgement first as
// the monitor lists them, as a table or as JSON lines (protobuf's JSON
// mapping).
#include <cstdio>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "services/awctl/commands.h"

namespace aw::awctl {

namespace v1 = ::auditwatch::v1;

int Events(const Flags& flags) {
  v1::ListEventsRequest req;
  if (flags.Has("unit")) {
    req.mutable_scope()->set_unit_code(flags.Get("unit", ""));
    req.mutable_scope()->set_include_descendants(flags.Get("descendants", "true") == "true");
  }
  for (const std::string& l : flags.All("level")) {
    int level = 0;
    if (!absl::SimpleAtoi(l, &level) || level < 1 || level > 4) {
      std::fprintf(stderr, "awctl events: --level takes 1..4\n");
      return 2;
    }
    req.add_levels(level);
  }
  for (const std::string& s : flags.All("state")) {
    v1::EventState state = v1::EVENT_STATE_UNSPECIFIED;
    if (!v1::EventState_Parse("EVENT_STATE_" + absl::AsciiStrToUpper(s), &state)) {
      std::fprintf(stderr, "awctl events: --state takes open, acknowledged, suppressed or resolved\n");
      return 2;
    }
    req.add_states(state);
  }
  for (const std::string& t : flags.All("theme")) req.add_theme_codes(t);
  int limit = 0;
  if (!absl::SimpleAtoi(flags.Get("limit", "20"), &limit) || limit < 1) {
    std::fprintf(stderr, "awctl events: --limit takes a positive number\n");
    return 2;
  }
  const bool json = flags.Get("json", "false") == "true";
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  auto monitor = v1::MonitorService::NewStub(channel);
  req.mutable_page()->set_page_size(std::min(limit, 1000));
  int shown = 0;
  int64_t total = -1;
  while (shown < limit) {
    grpc::ClientContext ctx;
    v1::ListEventsResponse resp;
    if (grpc::Status s = monitor->ListEvents(&ctx, req, &resp); !s.ok()) return Failed("ListEvents", s);
    if (total < 0) {
      total = resp.page().total_size();
      if (!json) {
        std::printf("%-8s %-5s %-12s %-14s %-8s %-9s %-8s %s\n", "ID", "LEVEL", "STATE", "UNIT", "INDICATOR",
                    "PERIOD", "THEME", "MESSAGE");
      }
    }
    for (const v1::WarningEvent& e : resp.events()) {
      if (shown++ >= limit) break;
      if (json) {
        std::string line;
        google::protobuf::util::JsonPrintOptions options;
        options.preserve_proto_field_names = true;
        (void)google::protobuf::util::MessageToJsonString(e, &line, options);
        std::printf("%s\n", line.c_str());
        continue;
      }
      std::string state = v1::EventState_Name(e.state()).substr(sizeof("EVENT_STATE_") - 1);
      std::printf("%-8lld %-5d %-12s %-14s %-8s %-9s %-8s %s\n", static_cast<long long>(e.id()), e.level(),
                  absl::AsciiStrToLower(state).c_str(), e.unit_code().c_str(), e.indicator_code().c_str(),
                  e.period().key().c_str(), e.theme_code().c_str(), e.message().c_str());
    }
    if (resp.page().next_page_token().empty()) break;
    req.mutable_page()->set_page_token(resp.page().next_page_token());
  }
  std::fflush(stdout);
  std::fprintf(stderr, "%d of %lld events shown\n", std::min(shown, limit), static_cast<long long>(total));
  return 0;
}

}  // namespace aw::awctl
