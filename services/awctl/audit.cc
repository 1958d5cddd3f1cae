// awctl audit-drive: drives a sample of the work orders that warning events
// opened in one county through the closed loop, as four different people
// through the gateway (two of the county's specialists, two centre
// auditors): some archived, one sent back at both reviews, one waiting for
// its unit review (whose submitter is refused the review: four eyes), one
// confirmed a false positive and whitelisted in monitor, two routine orders
// left to go overdue and raise supervision orders. Then prints the orders by
// state and the rates of the province's cities for the sample's period.
#include <algorithm>
#include <cstdio>
#include <map>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/awctl/commands.h"

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;
using Stub = v1::AuditService::Stub;

// The flags of one person: the connection flags with their key file.
Flags As(const Flags& flags, const std::string& key_flag) {
  std::vector<std::string> args = {"--key-file=" + flags.Get(key_flag, ""),
                                   "--gateway=" + GatewayAddress(flags)};
  if (flags.Has("tls-ca")) args.push_back("--tls-ca=" + flags.Get("tls-ca", ""));
  return Flags(args);
}

std::unique_ptr<grpc::ClientContext> Context() { return Deadline(30); }

// This run's commands: a retry within the run reuses its key, another run has its own.
const std::string& RunId() {
  static const std::string* const kRun = new std::string(absl::StrCat(absl::ToUnixMicros(absl::Now())));
  return *kRun;
}

v1::WorkOrderCommand Cmd(const v1::WorkOrder& o, const std::string& step, const std::string& comment = "") {
  v1::WorkOrderCommand c;
  c.set_work_order_id(o.id());
  c.set_expected_version(o.audit().version());
  c.set_idempotency_key(absl::StrCat("audit-drive-", RunId(), "-", o.id(), "-", step));
  c.set_comment(comment);
  return c;
}

// Runs one command; false (having printed why) when refused.
template <typename Method, typename Request>
bool Do(Stub& stub, Method method, const Request& req, v1::WorkOrder* order, const char* what) {
  v1::WorkOrder out;
  const grpc::Status s = (stub.*method)(Context().get(), req, &out);
  if (!s.ok()) {
    Failed(absl::StrCat(what, " on work order ", order->id()), s);
    return false;
  }
  *order = std::move(out);
  return true;
}

std::vector<v1::WorkOrder> Orders(Stub& stub, v1::ListWorkOrdersRequest req) {
  std::vector<v1::WorkOrder> out;
  req.mutable_page()->set_page_size(1000);
  for (;;) {
    v1::ListWorkOrdersResponse resp;
    if (!stub.ListWorkOrders(Context().get(), req, &resp).ok()) return out;
    out.insert(out.end(), resp.work_orders().begin(), resp.work_orders().end());
    if (resp.page().next_page_token().empty()) return out;
    req.mutable_page()->set_page_token(resp.page().next_page_token());
  }
}

std::string Shown(const v1::Rate& r) {
  if (!r.defined()) return absl::StrCat(r.numerator(), "/0 undefined");
  char pct[32];
  std::snprintf(pct, sizeof pct, "%.1f%%", 100 * r.value());
  return absl::StrCat(r.numerator(), "/", r.denominator(), " ", pct);
}

}  // namespace

int AuditDrive(const Flags& flags) {
  for (const char* f : {"unit-key-file", "unit2-key-file", "centre-key-file", "centre2-key-file"}) {
    if (!flags.Has(f)) {
      std::fprintf(stderr, "awctl audit-drive: --%s is required (four people act)\n", f);
      return 2;
    }
  }
  const std::string county = flags.Get("unit", "");
  if (county.empty()) {
    std::fprintf(stderr, "awctl audit-drive: --unit=CODE (the county whose orders are driven) is required\n");
    return 2;
  }
  std::shared_ptr<grpc::Channel> channels[4];
  const char* keys[4] = {"unit-key-file", "unit2-key-file", "centre-key-file", "centre2-key-file"};
  for (int i = 0; i < 4; ++i) {
    channels[i] = Connect(As(flags, keys[i]));
    if (channels[i] == nullptr) return 2;
  }
  auto unit = v1::AuditService::NewStub(channels[0]);
  auto unit2 = v1::AuditService::NewStub(channels[1]);
  auto centre = v1::AuditService::NewStub(channels[2]);
  auto centre2 = v1::AuditService::NewStub(channels[3]);

  // Wait until the warning events have become tasks: the orders stop growing.
  size_t seen = 0;
  int steady = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(180);
  while (steady < 3 && absl::Now() < give_up) {
    const size_t n = Orders(*centre, v1::ListWorkOrdersRequest()).size();
    steady = n > 0 && n == seen ? steady + 1 : 0;
    seen = n;
    absl::SleepFor(absl::Seconds(1));
  }
  v1::ListWorkOrdersRequest mine;
  mine.mutable_scope()->set_unit_code(county);
  mine.mutable_scope()->set_include_descendants(true);
  std::fprintf(stderr, "work orders opened from warning events: %zu in the province, %zu in %s\n", seen,
               Orders(*centre, mine).size(), county.c_str());
  const std::vector<v1::WorkOrder> all_mine = Orders(*centre, mine);
  mine.add_states(v1::WORK_ORDER_STATE_DISPATCHED);
  std::vector<v1::WorkOrder> sample = Orders(*centre, mine);
  if (sample.size() < 5) {
    // An earlier run has handled them: a routine audit of the county provides the rest.
    std::fprintf(stderr, "%s has %zu dispatched orders (an earlier run handled the others); a routine audit adds %zu\n",
                 county.c_str(), sample.size(), 5 - sample.size());
    v1::CreateTaskRequest task;
    task.mutable_task()->set_source(v1::TASK_SOURCE_ROUTINE);
    task.mutable_task()->set_theme_code(all_mine.empty() ? "ROUTINE" : all_mine[0].theme_code());
    task.mutable_task()->set_title(absl::StrCat("常态稽查 ", county));
    task.mutable_task()->mutable_scope()->set_unit_code(county);
    task.mutable_task()->mutable_scope()->set_include_descendants(true);
    task.mutable_task()->mutable_period()->set_key(all_mine.empty() ? "2025-12" : all_mine[0].period().key());
    task.set_idempotency_key(absl::StrCat("audit-drive-", RunId(), "-sample"));
    v1::AuditTask made;
    if (grpc::Status s = centre->CreateTask(Context().get(), task, &made); !s.ok()) return Failed("CreateTask", s);
    for (size_t i = sample.size(); i < 5; ++i) {
      v1::CreateWorkOrderRequest req;
      req.set_task_id(made.id());
      req.set_unit_code(county);
      req.set_title(absl::StrCat("常态稽查 ", i + 1));
      req.set_finding("月度抽查");
      req.mutable_deadline()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(24 * 7)));
      req.set_dispatch(true);
      req.set_idempotency_key(absl::StrCat("audit-drive-", RunId(), "-sample-", i));
      v1::WorkOrder o;
      if (grpc::Status s = centre->CreateWorkOrder(Context().get(), req, &o); !s.ok()) {
        return Failed("CreateWorkOrder", s);
      }
      sample.insert(sample.begin(), o);  // newest first, as listed
    }
  }
  std::reverse(sample.begin(), sample.end());  // oldest first
  sample.resize(5);
  const v1::Rectification rect = [] {
    v1::Rectification r;
    r.set_cause_analysis("抄表数据录入延迟");
    r.set_measures("补录数据，增加每日核对");
    r.set_result("数据已补录，指标恢复");
    r.add_attachments("doc://audit-drive/rectification.pdf");
    return r;
  }();
  auto submit = [&](v1::WorkOrder* o, const std::string& step) {
    v1::SubmitRectificationRequest req;
    *req.mutable_command() = Cmd(*o, step);
    *req.mutable_rectification() = rect;
    return Do(*unit, &Stub::SubmitRectification, req, o, "submit");
  };
  auto review = [&](Stub& who, v1::WorkOrder* o, const std::string& step, v1::ReviewStage stage, bool approve,
                    const std::string& comment = "") {
    v1::ReviewWorkOrderRequest req;
    *req.mutable_command() = Cmd(*o, step, comment);
    req.set_stage(stage);
    req.set_approve(approve);
    return Do(who, &Stub::ReviewWorkOrder, req, o, approve ? "approve" : "send back");
  };
  bool ok = true;
  // Two straight through to the archive.
  for (int i = 0; i < 2; ++i) {
    v1::WorkOrder& o = sample[i];
    ok = ok && Do(*unit, &Stub::StartRectification, Cmd(o, "start"), &o, "start") && submit(&o, "submit") &&
         review(*unit2, &o, "unit", v1::REVIEW_STAGE_UNIT, true) &&
         review(*centre2, &o, "centre", v1::REVIEW_STAGE_CENTRE, true);
  }
  // One sent back at the unit review and again at the centre's.
  {
    v1::WorkOrder& o = sample[2];
    ok = ok && Do(*unit, &Stub::StartRectification, Cmd(o, "start"), &o, "start") && submit(&o, "submit1") &&
         review(*unit2, &o, "unit1", v1::REVIEW_STAGE_UNIT, false, "原因分析不充分") && submit(&o, "submit2") &&
         review(*unit2, &o, "unit2", v1::REVIEW_STAGE_UNIT, true) &&
         review(*centre2, &o, "centre1", v1::REVIEW_STAGE_CENTRE, false, "整改措施需量化") && submit(&o, "submit3") &&
         review(*unit2, &o, "unit3", v1::REVIEW_STAGE_UNIT, true) &&
         review(*centre2, &o, "centre2", v1::REVIEW_STAGE_CENTRE, true);
  }
  // One waits for its unit review; its submitter may not review it.
  {
    v1::WorkOrder& o = sample[3];
    ok = ok && Do(*unit, &Stub::StartRectification, Cmd(o, "start"), &o, "start") && submit(&o, "submit");
    v1::ReviewWorkOrderRequest own;
    *own.mutable_command() = Cmd(o, "own-review");
    own.set_stage(v1::REVIEW_STAGE_UNIT);
    own.set_approve(true);
    v1::WorkOrder out;
    const grpc::Status s = unit->ReviewWorkOrder(Context().get(), own, &out);
    std::fprintf(stderr, "the submitter reviewing its own rectification of order %lld: %s\n",
                 static_cast<long long>(o.id()), s.ok() ? "ACCEPTED (wrong)" : s.error_message().c_str());
    ok = ok && !s.ok();
  }
  // One is a false positive: monitor whitelists its rule for the unit.
  {
    v1::WorkOrder& o = sample[4];
    v1::ConfirmFalsePositiveRequest fp;
    *fp.mutable_command() = Cmd(o, "false-positive", "季节性用电波动，经核实非异常");
    fp.set_freeze_days(30);
    ok = ok && Do(*centre, &Stub::ConfirmFalsePositive, fp, &o, "confirm false positive");
    v1::GetWorkOrderRequest get;
    get.set_id(o.id());
    for (int i = 0; i < 50 && ok && o.whitelist_entry_id() == 0; ++i) {
      absl::SleepFor(absl::Milliseconds(200));
      (void)centre->GetWorkOrder(Context().get(), get, &o);
    }
    std::fprintf(stderr, "order %lld confirmed a false positive: monitor whitelist entry %lld\n",
                 static_cast<long long>(o.id()), static_cast<long long>(o.whitelist_entry_id()));
  }
  // A routine audit whose two orders are due in two seconds, and go overdue.
  {
    v1::CreateTaskRequest task;
    task.mutable_task()->set_source(v1::TASK_SOURCE_ROUTINE);
    task.mutable_task()->set_theme_code(sample[0].theme_code());
    task.mutable_task()->set_title(absl::StrCat("常态稽查 ", county));
    task.mutable_task()->mutable_scope()->set_unit_code(county);
    task.mutable_task()->mutable_scope()->set_include_descendants(true);
    *task.mutable_task()->mutable_period() = sample[0].period();
    task.set_idempotency_key(absl::StrCat("audit-drive-", RunId(), "-routine"));
    v1::AuditTask made;
    if (grpc::Status s = centre->CreateTask(Context().get(), task, &made); !s.ok()) return Failed("CreateTask", s);
    for (int i = 0; i < 2; ++i) {
      v1::CreateWorkOrderRequest req;
      req.set_task_id(made.id());
      req.set_unit_code(county);
      req.set_title(absl::StrCat("常态稽查抽查 ", i + 1));
      req.set_finding("月度抽查");
      const int64_t due = absl::ToUnixSeconds(absl::Now() + absl::Seconds(2));
      req.mutable_deadline()->set_seconds(due);
      req.set_dispatch(true);
      req.set_idempotency_key(absl::StrCat("audit-drive-", RunId(), "-routine-order-", i));
      v1::WorkOrder o;
      if (grpc::Status s = centre->CreateWorkOrder(Context().get(), req, &o); !s.ok()) {
        return Failed("CreateWorkOrder", s);
      }
    }
    absl::SleepFor(absl::Seconds(4));
  }
  if (!ok) return 1;

  // What the loop looks like now.
  std::map<std::string, int> by_state;
  int overdue = 0;
  v1::ListWorkOrdersRequest everything;
  for (const auto& o : Orders(*centre, everything)) {
    ++by_state[v1::WorkOrderState_Name(o.state()).substr(17)];
    overdue += o.overdue() ? 1 : 0;
  }
  std::printf("work orders by state (the whole province):\n");
  for (const auto& [state, n] : by_state) std::printf("  %-16s %6d\n", state.c_str(), n);
  std::printf("  overdue now      %6d\n", overdue);
  v1::ListSupervisionOrdersRequest sup;
  sup.set_open_only(true);
  sup.mutable_page()->set_page_size(1000);
  int from_warnings = 0, for_overdue = 0;
  for (;;) {
    v1::ListSupervisionOrdersResponse page;
    if (grpc::Status s = centre->ListSupervisionOrders(Context().get(), sup, &page); !s.ok()) {
      return Failed("ListSupervisionOrders", s);
    }
    for (const auto& so : page.orders()) (so.work_order_id() != 0 ? for_overdue : from_warnings)++;
    if (page.page().next_page_token().empty()) break;
    sup.mutable_page()->set_page_token(page.page().next_page_token());
  }
  std::printf("open supervision orders: %d for overdue orders, %d raised by warning levels\n", for_overdue,
              from_warnings);
  // The rates of the province's cities for the sample's period.
  auto ingest = v1::IngestService::NewStub(channels[2]);
  v1::ListUnitsRequest roots;
  roots.add_types(v1::UNIT_TYPE_PROVINCE);
  v1::ListUnitsResponse provinces;
  if (grpc::Status s = ingest->ListUnits(Context().get(), roots, &provinces); !s.ok() || provinces.units().empty()) {
    return Failed("ListUnits (the province)", s);
  }
  v1::GetRatesRequest rates;
  rates.mutable_scope()->set_unit_code(provinces.units(0).code());
  rates.mutable_scope()->set_include_descendants(true);
  rates.set_depth(1);
  *rates.mutable_period() = sample[0].period();
  v1::GetRatesResponse got;
  if (grpc::Status s = centre->GetRates(Context().get(), rates, &got); !s.ok()) return Failed("GetRates", s);
  std::printf("rates of %s and its cities for %s (numerator/denominator):\n", provinces.units(0).code().c_str(),
              sample[0].period().key().c_str());
  std::printf("  %-8s %-18s %-18s %-18s %-18s %-18s %s\n", "UNIT", "INITIATION", "COMPLETION", "RECTIFICATION",
              "OVERDUE", "INDICATOR CHANGE", "CUMULATIVE");
  for (const auto& r : got.rates()) {
    std::printf("  %-8s %-18s %-18s %-18s %-18s %-18s %s\n", r.unit_code().c_str(), Shown(r.initiation()).c_str(),
                Shown(r.completion()).c_str(), Shown(r.rectification()).c_str(), Shown(r.overdue()).c_str(),
                Shown(r.indicator_change()).c_str(), Shown(r.cumulative_completion()).c_str());
  }
  return 0;
}

}  // namespace aw::awctl
