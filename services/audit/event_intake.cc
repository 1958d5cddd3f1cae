#include "services/audit/event_intake.h"

#include "absl/strings/str_cat.h"
#include "common/call.h"
#include "common/log.h"
#include "common/timestamp.h"

namespace aw::audit {
namespace {
// The copy of the rules is fetched again when older than this.
constexpr absl::Duration kRulesTtl = absl::Seconds(5);
}  // namespace

EventIntake::EventIntake(AuditStore* store, std::shared_ptr<grpc::Channel> monitor, Units* units,
                         AuditMetrics* metrics, Options options)
    : store_(store),
      monitor_(v1::MonitorService::NewStub(std::move(monitor))),
      units_(units),
      metrics_(metrics),
      options_(options),
      follower_([this](grpc::ClientContext* c,
                       const v1::WatchEventsRequest& r) { return monitor_->WatchEvents(c, r); },
                [this] { return store_->Cursor(AuditStore::kEventsFeed); },
                [this](const v1::EventChange& change) { return Handle(change); },
                {.name = "monitor events", .logger = "audit", .clock = options.clock}) {}

EventIntake::~EventIntake() { Stop(); }

void EventIntake::Start() { follower_.Start(); }

void EventIntake::Stop() { follower_.Stop(); }

absl::StatusOr<v1::Rule> EventIntake::RuleOf(const std::string& code) {
  const absl::Time now = options_.clock->Now();
  auto it = rules_.find(code);
  if (it != rules_.end() && now - rules_fetched_ < kRulesTtl) return it->second;
  v1::ListRulesRequest request;
  request.set_include_disabled(true);
  absl::flat_hash_map<std::string, v1::Rule> rules;
  AW_RETURN_IF_ERROR(ForEachPage(*monitor_, &v1::MonitorService::Stub::ListRules, request, "monitor ListRules",
                                 [&] { return CallContext(options_.call_timeout); },
                                 [&](const v1::ListRulesResponse& page) {
                                   for (const v1::Rule& r : page.rules()) rules[r.code()] = r;
                                   return absl::OkStatus();
                                 }));
  rules_ = std::move(rules);
  rules_fetched_ = now;
  it = rules_.find(code);
  if (it == rules_.end()) return absl::NotFoundError(absl::StrCat("monitor has no rule ", code));
  return it->second;
}

absl::Status EventIntake::Handle(const v1::EventChange& change) {
  if (change.heartbeat()) return absl::OkStatus();
  const v1::WarningEvent& e = change.event();
  std::vector<EventWork> work;
  const bool live = e.state() == v1::EVENT_STATE_OPEN || e.state() == v1::EVENT_STATE_ACKNOWLEDGED;
  if (!live) {
    EventWork& w = work.emplace_back();
    w.event = e;
    w.ended = true;
  } else if (e.level() > 0) {
    auto rule = RuleOf(e.rule_code());
    if (!rule.ok() && rule.status().code() != absl::StatusCode::kNotFound) return rule.status();
    const EventActions actions = rule.ok() ? ActionsOf(*rule, e.level()) : EventActions{};
    if (actions.task || actions.supervision) {
      AW_ASSIGN_OR_RETURN(std::vector<std::string> path, units_->PathOf(e.unit_code(), "event.unit_code"));
      EventWork& w = work.emplace_back();
      w.event = e;
      w.actions = actions;
      w.path = std::move(path);
      w.task_title = e.subject().empty()
                         ? absl::StrCat("预警稽查 ", e.rule_code(), " L", e.level(), " ", e.unit_code(), " ",
                                        e.period().key())
                         : absl::StrCat("现场检查 ", e.rule_code(), " L", e.level(), " ", e.unit_code(), " 客户 ",
                                        e.subject(), " ", e.period().key());
      w.order_deadline = options_.clock->Now() + options_.order_deadline;
    }
  }
  AW_ASSIGN_OR_RETURN(const int opened, store_->ApplyEvents(work, change.seq(), options_.clock->Now()));
  metrics_->tasks_opened.Increment(opened);
  metrics_->feed_lag.Set(absl::ToDoubleSeconds(options_.clock->Now() - TimeOf(e.updated_at())));
  return absl::OkStatus();
}

}  // namespace aw::audit
