#include "services/monitor/monitor_service.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_util.h"
#include "common/paging.h"
#include "common/period.h"
#include "common/status.h"
#include "common/stream_writer.h"
#include "services/monitor/evaluator.h"

namespace aw::monitor {
namespace {

// Pages a vector in memory.
template <typename T, typename Add>
void PageOut(const Page& page, const std::vector<T>& all, Add add, v1::PageResponse* out) {
  for (int64_t i = page.offset; i < std::min<int64_t>(all.size(), page.offset + page.size); ++i) add(all[i]);
  FillPageResponse(page, static_cast<int64_t>(all.size()), out);
}

// Events after the cursor in pages, then polling for new commits, with a
// heartbeat each second.
class WatchEventsReactor final : public ThreadedWriteReactor<v1::EventChange> {
 public:
  WatchEventsReactor(MonitorStore* store, int64_t from) : store_(store), cursor_(from) { Start(); }

 private:
  grpc::Status Run() override {
    absl::Time last_sent = absl::Now();
    v1::EventChange beat;
    while (!Cancelled()) {
      auto changes = store_->EventFeed(cursor_, 500);
      if (!changes.ok()) return ToGrpcStatus(changes.status());
      for (const auto& c : *changes) {
        if (!Write(&c)) return grpc::Status::CANCELLED;
        cursor_ = c.seq();
        last_sent = absl::Now();
      }
      if (!changes->empty()) continue;
      if (absl::Now() - last_sent >= absl::Seconds(1)) {
        beat.set_seq(cursor_);
        beat.set_heartbeat(true);
        if (!Write(&beat)) return grpc::Status::CANCELLED;
        last_sent = absl::Now();
      }
      Pause(absl::Milliseconds(100));
    }
    return grpc::Status::CANCELLED;
  }

  MonitorStore* store_;
  int64_t cursor_;
};

}  // namespace

MonitorServiceImpl::MonitorServiceImpl(MonitorStore* store, Directory* directory, TimerRunner* timers,
                                       Notifier* notifier, WorkerPool* workers, Options options)
    : store_(store),
      directory_(directory),
      timers_(timers),
      notifier_(notifier),
      workers_(workers),
      options_(options) {}

absl::StatusOr<std::vector<IndicatorFacts>> MonitorServiceImpl::Facts(const v1::Rule& rule) {
  AW_ASSIGN_OR_RETURN(auto dir, directory_->Get());
  std::vector<IndicatorFacts> facts;
  for (int i = 0; i < rule.indicator_codes_size(); ++i) {
    const IndicatorFacts* f = dir->Indicator(rule.indicator_codes(i));
    if (f == nullptr) {
      AW_ASSIGN_OR_RETURN(dir, directory_->Refresh());  // perhaps created since
      f = dir->Indicator(rule.indicator_codes(i));
    }
    if (f == nullptr) {
      return absl::NotFoundError(absl::StrCat("rule.indicator_codes[", i, "]: no indicator ", rule.indicator_codes(i)));
    }
    facts.push_back(*f);
  }
  return facts;
}

absl::StatusOr<std::vector<std::string>> MonitorServiceImpl::ScopeUnits(const v1::UnitScope& scope) {
  if (scope.unit_code().empty()) return std::vector<std::string>{};
  AW_ASSIGN_OR_RETURN(auto dir, directory_->Get());
  if (dir->Unit(scope.unit_code()) == nullptr) {
    AW_ASSIGN_OR_RETURN(dir, directory_->Refresh());
    if (dir->Unit(scope.unit_code()) == nullptr) {
      return absl::NotFoundError(absl::StrCat("scope.unit_code: no unit ", scope.unit_code()));
    }
  }
  std::vector<std::string> units;
  for (const auto& [code, unit] : dir->units) {
    if (dir->InScope(code, scope.unit_code(), scope.include_descendants())) units.push_back(code);
  }
  return units;
}

grpc::ServerUnaryReactor* MonitorServiceImpl::UpsertTheme(Ctx* ctx, const v1::UpsertThemeRequest* req, v1::Theme* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->UpsertTheme(*req));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListThemes(Ctx* ctx, const v1::ListThemesRequest* req,
                                                         v1::ListThemesResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::vector<v1::Theme> themes;
    int64_t total = 0;
    AW_RETURN_IF_ERROR(store_->ListThemes(page.offset, page.size, &themes, &total));
    for (auto& t : themes) *resp->add_themes() = std::move(t);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::UpsertRule(Ctx* ctx, const v1::UpsertRuleRequest* req, v1::Rule* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    if (req->actor().empty()) return InvalidField("actor", "required");
    const v1::Rule& rule = req->rule();
    AW_ASSIGN_OR_RETURN(const bool theme, store_->ThemeExists(rule.theme_code()));
    if (!theme && !rule.theme_code().empty()) {
      return absl::NotFoundError(absl::StrCat("rule.theme_code: no theme ", rule.theme_code()));
    }
    AW_ASSIGN_OR_RETURN(auto facts, Facts(rule));
    AW_RETURN_IF_ERROR(ValidateRule(rule, facts));
    if (!rule.scope().unit_code().empty()) AW_RETURN_IF_ERROR(ScopeUnits(rule.scope()).status());
    AW_ASSIGN_OR_RETURN(*resp, store_->SaveRule(rule, req->actor(), req->reason(), req->expected_version()));
    if (resp->enabled()) AW_RETURN_IF_ERROR(timers_->Arm(*resp));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetRule(Ctx* ctx, const v1::GetRuleRequest* req, v1::Rule* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->GetRule(req->code()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListRules(Ctx* ctx, const v1::ListRulesRequest* req,
                                                        v1::ListRulesResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto rules, store_->ListRules(req->include_disabled()));
    std::vector<v1::Rule> selected;
    for (auto& r : rules) {
      if (!req->theme_code().empty() && r.theme_code() != req->theme_code()) continue;
      if (!req->kinds().empty() &&
          std::find(req->kinds().begin(), req->kinds().end(), r.kind()) == req->kinds().end()) {
        continue;
      }
      selected.push_back(std::move(r));
    }
    PageOut(page, selected, [&](const v1::Rule& r) { *resp->add_rules() = r; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::SetRuleEnabled(Ctx* ctx, const v1::SetRuleEnabledRequest* req,
                                                             v1::Rule* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    if (req->actor().empty()) return InvalidField("actor", "required");
    AW_ASSIGN_OR_RETURN(*resp, store_->SetRuleEnabled(req->code(), req->enabled(), req->actor(), req->reason()));
    if (resp->enabled()) AW_RETURN_IF_ERROR(timers_->Arm(*resp));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetRuleHistory(Ctx* ctx, const v1::GetRuleRequest* req,
                                                             v1::RuleHistory* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto versions, store_->RuleHistory(req->code()));
    for (auto& v : versions) *resp->add_versions() = std::move(v);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::Backtest(Ctx* ctx, const v1::BacktestRequest* req,
                                                       v1::BacktestResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    const v1::Rule& rule = req->rule();
    AW_ASSIGN_OR_RETURN(auto facts, Facts(rule));
    AW_RETURN_IF_ERROR(ValidateRule(rule, facts));
    if (!IsValueRule(rule.kind())) {
      return InvalidField("rule.kind", "backtests judge values; missing-data and consistency rules run on timers");
    }
    auto first = Period::Parse(static_cast<PeriodType>(rule.period_type()), req->periods().first().key());
    auto last = Period::Parse(static_cast<PeriodType>(rule.period_type()), req->periods().last().key());
    if (!first.ok()) return InvalidField("periods.first", first.status().message());
    if (!last.ok()) return InvalidField("periods.last", last.status().message());
    if (*last < *first) return InvalidField("periods", "last comes before first");
    AW_ASSIGN_OR_RETURN(auto dir, directory_->Get());
    // The values, with the history the rule looks back at, from ingest.
    v1::QueryReadingsRequest query;
    *query.mutable_scope() = req->scope();
    query.add_indicator_codes(rule.indicator_codes(0));
    query.mutable_periods()->mutable_first()->set_key(first->Shift(-HistoryNeeded(rule)).key());
    query.mutable_periods()->mutable_last()->set_key(last->key());
    query.mutable_page()->set_page_size(1000);
    std::map<std::string, std::map<std::string, double>> values;  // unit → period → value
    for (;;) {
      std::unique_ptr<grpc::ClientContext> client = grpc::ClientContext::FromCallbackServerContext(*ctx);
      v1::QueryReadingsResponse page;
      const grpc::Status s = directory_->ingest().QueryReadings(client.get(), query, &page);
      if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), "ingest: " + s.error_message());
      for (const auto& r : page.readings()) values[r.key().unit_code()][r.key().period().key()] = r.value();
      if (page.page().next_page_token().empty()) break;
      query.mutable_page()->set_page_token(page.page().next_page_token());
    }
    int evaluated = 0;
    for (const auto& [unit, series] : values) {
      const UnitFacts* u = dir->Unit(unit);
      for (Period p = *first; p <= *last; p = p.Next()) {
        if (!series.contains(p.key())) continue;
        Verdict v;
        if (rule.kind() == v1::RULE_KIND_QUALITY_APPLICABILITY) {
          const bool applies = u != nullptr && std::find(rule.unit_types().begin(), rule.unit_types().end(),
                                                         u->type) != rule.unit_types().end();
          if (!applies) v.level = rule.levels(0).level();
        } else {
          if (!rule.unit_types().empty() &&
              (u == nullptr || std::find(rule.unit_types().begin(), rule.unit_types().end(), u->type) ==
                                   rule.unit_types().end())) {
            continue;
          }
          std::vector<std::optional<double>> s;
          for (int i = HistoryNeeded(rule); i >= 0; --i) {
            auto it = series.find(p.Shift(-i).key());
            s.push_back(it == series.end() ? std::nullopt : std::optional<double>(it->second));
          }
          v = Evaluate(rule, facts[0].direction, s);
        }
        ++evaluated;
        if (v.level == 0) continue;
        v1::WarningEvent* e = resp->add_events();
        e->set_rule_code(rule.code());
        e->set_theme_code(rule.theme_code());
        e->set_unit_code(unit);
        e->mutable_period()->set_key(p.key());
        e->mutable_period()->set_type(rule.period_type());
        e->set_indicator_code(rule.indicator_codes(0));
        e->set_level(v.level);
        e->set_state(v1::EVENT_STATE_OPEN);
        e->set_observed(v.observed);
        e->set_threshold(v.threshold);
        e->set_message(v.message);
      }
    }
    resp->set_evaluated(evaluated);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListEvents(Ctx* ctx, const v1::ListEventsRequest* req,
                                                         v1::ListEventsResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    EventFilter f;
    AW_ASSIGN_OR_RETURN(f.unit_codes, ScopeUnits(req->scope()));
    f.levels.assign(req->levels().begin(), req->levels().end());
    for (int s : req->states()) f.states.push_back(s);
    f.theme_codes.assign(req->theme_codes().begin(), req->theme_codes().end());
    f.first_period = req->periods().first().key();
    f.last_period = req->periods().last().key();
    f.offset = page.offset;
    f.limit = page.size;
    std::vector<v1::WarningEvent> events;
    int64_t total = 0;
    AW_RETURN_IF_ERROR(store_->ListEvents(f, &events, &total));
    for (auto& e : events) *resp->add_events() = std::move(e);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetEvent(Ctx* ctx, const v1::GetEventRequest* req,
                                                       v1::WarningEvent* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->GetEvent(req->id(), true));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::AcknowledgeEvent(Ctx* ctx, const v1::AcknowledgeEventRequest* req,
                                                               v1::WarningEvent* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->Acknowledge(req->id(), req->actor(), req->comment()));
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::EventChange>* MonitorServiceImpl::WatchEvents(Ctx*, const v1::WatchEventsRequest* req) {
  if (req->from_seq() < 0) {
    return new FailedWriteReactor<v1::EventChange>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "from_seq: must not be negative"));
  }
  return new WatchEventsReactor(store_, req->from_seq());
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetEvaluatorStatus(Ctx* ctx, const v1::GetEvaluatorStatusRequest*,
                                                                 v1::EvaluatorStatus* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->EvaluatorStatus(Evaluator::kFeed));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetAnomalySummary(Ctx* ctx, const v1::GetAnomalySummaryRequest* req,
                                                                v1::GetAnomalySummaryResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    auto period = Period::Parse(req->period().key());
    if (!period.ok()) return InvalidField("period", period.status().message());
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(req->scope()));
    AW_ASSIGN_OR_RETURN(auto rows, store_->AnomalySummary(units, period->key()));
    PageOut(page, rows, [&](const v1::AnomalySummaryRow& r) { *resp->add_rows() = r; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::CreateWhitelistEntry(Ctx* ctx,
                                                                   const v1::CreateWhitelistEntryRequest* req,
                                                                   v1::WhitelistEntry* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    v1::WhitelistEntry entry = req->entry();
    if (req->actor().empty()) return InvalidField("actor", "required");
    if (entry.rule_code().empty() == entry.theme_code().empty()) {
      return InvalidField("entry.rule_code", "set exactly one of rule_code and theme_code");
    }
    if (entry.reason().empty()) return InvalidField("entry.reason", "a whitelist entry needs a reason");
    if (entry.scope().unit_code().empty()) return InvalidField("entry.scope.unit_code", "required");
    AW_RETURN_IF_ERROR(ScopeUnits(entry.scope()).status());
    if (!entry.rule_code().empty()) AW_RETURN_IF_ERROR(store_->GetRule(entry.rule_code()).status());
    if (!entry.theme_code().empty()) {
      AW_ASSIGN_OR_RETURN(const bool exists, store_->ThemeExists(entry.theme_code()));
      if (!exists) return absl::NotFoundError(absl::StrCat("entry.theme_code: no theme ", entry.theme_code()));
    }
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    if (!entry.has_frozen_from()) entry.mutable_frozen_from()->set_seconds(now);
    if (!entry.has_frozen_until() || entry.frozen_until().seconds() <= entry.frozen_from().seconds()) {
      return InvalidField("entry.frozen_until", "the end of the freeze period, after frozen_from");
    }
    const absl::Duration freeze = absl::Seconds(entry.frozen_until().seconds() - entry.frozen_from().seconds());
    if (freeze > options_.max_whitelist_freeze) {
      return InvalidField("entry.frozen_until",
                          absl::StrCat("a freeze of ", absl::FormatDuration(freeze), " is longer than the allowed ",
                                       absl::FormatDuration(options_.max_whitelist_freeze)));
    }
    AW_ASSIGN_OR_RETURN(*resp, store_->AddWhitelist(entry, req->actor(), req->request_id()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::RevokeWhitelistEntry(Ctx* ctx,
                                                                   const v1::RevokeWhitelistEntryRequest* req,
                                                                   v1::WhitelistEntry* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, store_->RevokeWhitelist(req->id(), req->actor(), req->reason()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListWhitelist(Ctx* ctx, const v1::ListWhitelistRequest* req,
                                                            v1::ListWhitelistResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto entries, store_->Whitelist(req->include_expired()));
    std::vector<v1::WhitelistEntry> selected;
    if (!req->scope().unit_code().empty()) {
      AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(req->scope()));
      for (auto& e : entries) {
        if (std::find(units.begin(), units.end(), e.scope().unit_code()) != units.end()) selected.push_back(e);
      }
    } else {
      selected = std::move(entries);
    }
    PageOut(page, selected, [&](const v1::WhitelistEntry& e) { *resp->add_entries() = e; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::UpsertContact(Ctx* ctx, const v1::UpsertContactRequest* req,
                                                            v1::Contact* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    v1::UnitScope scope;
    scope.set_unit_code(req->contact().unit_code());
    if (!scope.unit_code().empty()) AW_RETURN_IF_ERROR(ScopeUnits(scope).status());
    AW_ASSIGN_OR_RETURN(*resp, notifier_->UpsertContact(req->contact(), req->actor()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListContacts(Ctx* ctx, const v1::ListContactsRequest* req,
                                                           v1::ListContactsResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(req->scope()));
    AW_ASSIGN_OR_RETURN(auto contacts, notifier_->Contacts(units));
    PageOut(page, contacts, [&](const v1::Contact& c) { *resp->add_contacts() = c; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListNotifications(Ctx* ctx, const v1::ListNotificationsRequest* req,
                                                                v1::ListNotificationsResponse* resp) {
  return FinishOnWorker(ctx, *workers_, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(req->scope()));
    std::vector<int> states(req->states().begin(), req->states().end());
    std::vector<v1::Notification> out;
    int64_t total = 0;
    AW_RETURN_IF_ERROR(notifier_->List(units, states, page.offset, page.size, &out, &total));
    for (auto& n : out) *resp->add_notifications() = std::move(n);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

}  // namespace aw::monitor
