#include "services/monitor/monitor_service.h"

#include "absl/strings/str_cat.h"
#include "common/call.h"
#include "common/grpc_util.h"
#include "common/identity.h"
#include "common/paging.h"
#include "common/period.h"
#include "common/status.h"
#include "services/monitor/evaluator.h"

namespace aw::monitor {

absl::StatusOr<std::vector<IndicatorFacts>> MonitorServiceImpl::Facts(const v1::Rule& rule) {
  AW_ASSIGN_OR_RETURN(auto dir, p_.directory->Get());
  std::vector<IndicatorFacts> facts;
  for (int i = 0; i < rule.indicator_codes_size(); ++i) {
    const IndicatorFacts* f = dir->Indicator(rule.indicator_codes(i));
    if (f == nullptr) {
      AW_ASSIGN_OR_RETURN(dir, p_.directory->Refresh());  // perhaps created since
      f = dir->Indicator(rule.indicator_codes(i));
    }
    if (f == nullptr) {
      return absl::NotFoundError(absl::StrCat("rule.indicator_codes[", i, "]: no indicator ", rule.indicator_codes(i)));
    }
    facts.push_back(*f);
  }
  return facts;
}

absl::StatusOr<std::vector<std::string>> MonitorServiceImpl::ScopeUnits(const v1::UnitScope& scope,
                                                                       const std::string& field) {
  if (scope.unit_code().empty()) return std::vector<std::string>{};
  AW_ASSIGN_OR_RETURN(auto dir, p_.directory->Knowing(scope.unit_code()));
  if (dir->Unit(scope.unit_code()) == nullptr) {
    return absl::NotFoundError(absl::StrCat(field, ": no unit ", scope.unit_code()));
  }
  return dir->UnitsIn(scope);
}

// --- Themes and rules --------------------------------------------------------------------

grpc::ServerUnaryReactor* MonitorServiceImpl::UpsertTheme(Ctx* ctx, const v1::UpsertThemeRequest* req,
                                                          v1::Theme* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    v1::UpsertThemeRequest theme = *req;
    AW_ASSIGN_OR_RETURN(*theme.mutable_actor(), ActorOf(*ctx, req->actor()));
    AW_RETURN_IF_ERROR(CheckTheme(theme));
    AW_ASSIGN_OR_RETURN(*resp, p_.store->UpsertTheme(theme));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListThemes(Ctx* ctx, const v1::ListThemesRequest* req,
                                                         v1::ListThemesResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::vector<v1::Theme> themes;
    int64_t total = 0;
    AW_RETURN_IF_ERROR(p_.store->ListThemes(page.offset, page.size, &themes, &total));
    for (auto& t : themes) *resp->add_themes() = std::move(t);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::UpsertRule(Ctx* ctx, const v1::UpsertRuleRequest* req,
                                                         v1::Rule* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, RequiredActor(*ctx, req->actor()));
    const v1::Rule& rule = req->rule();
    AW_ASSIGN_OR_RETURN(const bool theme, p_.store->ThemeExists(rule.theme_code()));
    if (!theme && !rule.theme_code().empty()) {
      return absl::NotFoundError(absl::StrCat("rule.theme_code: no theme ", rule.theme_code()));
    }
    AW_ASSIGN_OR_RETURN(auto facts, Facts(rule));
    AW_RETURN_IF_ERROR(ValidateRule(rule, facts));
    if (!rule.scope().unit_code().empty()) AW_RETURN_IF_ERROR(ScopeUnits(rule.scope()).status());
    AW_ASSIGN_OR_RETURN(*resp, p_.store->SaveRule(rule, actor, req->reason(), req->expected_version()));
    if (resp->enabled()) AW_RETURN_IF_ERROR(p_.timers->Arm(*resp));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetRule(Ctx* ctx, const v1::GetRuleRequest* req, v1::Rule* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, p_.store->GetRule(req->code()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListRules(Ctx* ctx, const v1::ListRulesRequest* req,
                                                        v1::ListRulesResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto rules, p_.store->ListRules(req->include_disabled()));
    std::vector<v1::Rule> selected;
    for (auto& r : rules) {
      if (!req->theme_code().empty() && r.theme_code() != req->theme_code()) continue;
      if (!req->kinds().empty() && std::find(req->kinds().begin(), req->kinds().end(), r.kind()) == req->kinds().end()) {
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
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, RequiredActor(*ctx, req->actor()));
    AW_ASSIGN_OR_RETURN(*resp, p_.store->SetRuleEnabled(req->code(), req->enabled(), actor, req->reason()));
    if (resp->enabled()) AW_RETURN_IF_ERROR(p_.timers->Arm(*resp));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetRuleHistory(Ctx* ctx, const v1::GetRuleRequest* req,
                                                             v1::RuleHistory* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto versions, p_.store->RuleHistory(req->code()));
    for (auto& v : versions) *resp->add_versions() = std::move(v);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::Backtest(Ctx* ctx, const v1::BacktestRequest* req,
                                                       v1::BacktestResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
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
    AW_ASSIGN_OR_RETURN(auto dir, p_.directory->Get());
    // The values, with the history the rule looks back at, from ingest, under
    // the caller's deadline.
    v1::QueryReadingsRequest query;
    *query.mutable_scope() = req->scope();
    query.add_indicator_codes(rule.indicator_codes(0));
    query.mutable_periods()->mutable_first()->set_key(first->Shift(-HistoryNeeded(rule)).key());
    query.mutable_periods()->mutable_last()->set_key(last->key());
    std::map<std::string, std::map<std::string, double>> series;  // unit → period → value
    AW_RETURN_IF_ERROR(ForEachPage(
        p_.directory->ingest(), &v1::IngestService::Stub::QueryReadings, query, "ingest QueryReadings",
        [&] { return ChildContext(*ctx, p_.directory->call_timeout()); },
        [&](const v1::QueryReadingsResponse& page) {
          for (const auto& r : page.readings()) series[r.key().unit_code()][r.key().period().key()] = r.value();
          return absl::OkStatus();
        }));
    BacktestResult result = monitor::Backtest(rule, facts[0], *dir, series, *first, *last);
    for (auto& e : result.events) *resp->add_events() = std::move(e);
    for (auto& n : result.not_judged) *resp->add_not_judged() = std::move(n);
    resp->set_evaluated(result.evaluated);
    resp->set_not_judged_count(result.not_judged_count);
    return absl::OkStatus();
  });
}

// --- Events ----------------------------------------------------------------------------------

grpc::ServerUnaryReactor* MonitorServiceImpl::ListEvents(Ctx* ctx, const v1::ListEventsRequest* req,
                                                         v1::ListEventsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    EventFilter f;
    AW_ASSIGN_OR_RETURN(f.unit_codes, ScopeUnits(req->scope()));
    f.levels.assign(req->levels().begin(), req->levels().end());
    for (int s : req->states()) f.states.push_back(s);
    f.theme_codes.assign(req->theme_codes().begin(), req->theme_codes().end());
    f.first_period = req->periods().first().key();
    f.last_period = req->periods().last().key();
    f.before_id = page.after_id();
    f.limit = page.size + 1;
    std::vector<v1::WarningEvent> events;
    int64_t total = page.total;
    AW_RETURN_IF_ERROR(p_.store->ListEvents(f, page.first(), &events, &total));
    FinishKeysetPage(page, events, [](const v1::WarningEvent& e) { return std::vector<int64_t>{e.id()}; }, total,
                     resp->mutable_page());
    for (auto& e : events) *resp->add_events() = std::move(e);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetEvent(Ctx* ctx, const v1::GetEventRequest* req,
                                                       v1::WarningEvent* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, p_.store->GetEvent(req->id(), true));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::AcknowledgeEvent(Ctx* ctx, const v1::AcknowledgeEventRequest* req,
                                                               v1::WarningEvent* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, RequiredActor(*ctx, req->actor()));
    AW_ASSIGN_OR_RETURN(*resp, p_.store->Acknowledge(req->id(), actor, req->comment()));
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::EventChange>* MonitorServiceImpl::WatchEvents(Ctx* ctx,
                                                                          const v1::WatchEventsRequest* req) {
  if (grpc::Status s = CheckIdentity(*ctx); !s.ok()) return new FailedWriteReactor<v1::EventChange>(s);
  if (req->from_seq() < 0) {
    return new FailedWriteReactor<v1::EventChange>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "from_seq: must not be negative"));
  }
  return p_.feed->Subscribe(NewEventsReader(p_.store), req->from_seq());
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetEvaluatorStatus(Ctx* ctx, const v1::GetEvaluatorStatusRequest*,
                                                                 v1::EvaluatorStatus* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, p_.store->EvaluatorStatus(Evaluator::kFeed));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetAnomalySummary(Ctx* ctx, const v1::GetAnomalySummaryRequest* req,
                                                                v1::GetAnomalySummaryResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    auto period = Period::Parse(req->period().key());
    if (!period.ok()) return InvalidField("period", period.status().message());
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(req->scope()));
    AW_ASSIGN_OR_RETURN(auto rows, p_.store->AnomalySummary(units, period->key()));
    PageOut(page, rows, [&](const v1::AnomalySummaryRow& r) { *resp->add_rows() = r; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

// --- Whitelist --------------------------------------------------------------------------------

grpc::ServerUnaryReactor* MonitorServiceImpl::CreateWhitelistEntry(Ctx* ctx,
                                                                   const v1::CreateWhitelistEntryRequest* req,
                                                                   v1::WhitelistEntry* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, RequiredActor(*ctx, req->actor()));
    v1::WhitelistEntry entry = req->entry();
    AW_RETURN_IF_ERROR(CheckWhitelistEntry(&entry, p_.clock->Now(), p_.max_whitelist_freeze));
    AW_RETURN_IF_ERROR(ScopeUnits(entry.scope()).status());
    if (!entry.rule_code().empty()) AW_RETURN_IF_ERROR(p_.store->GetRule(entry.rule_code()).status());
    if (!entry.theme_code().empty()) {
      AW_ASSIGN_OR_RETURN(const bool exists, p_.store->ThemeExists(entry.theme_code()));
      if (!exists) return absl::NotFoundError(absl::StrCat("entry.theme_code: no theme ", entry.theme_code()));
    }
    AW_ASSIGN_OR_RETURN(auto dir, p_.directory->Get());
    AW_ASSIGN_OR_RETURN(*resp, p_.store->AddWhitelist(entry, actor, req->request_id(), *dir));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::RevokeWhitelistEntry(Ctx* ctx,
                                                                   const v1::RevokeWhitelistEntryRequest* req,
                                                                   v1::WhitelistEntry* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, RequiredActor(*ctx, req->actor()));
    if (req->reason().empty()) return InvalidField("reason", "say why the entry is revoked");
    AW_ASSIGN_OR_RETURN(*resp, p_.store->RevokeWhitelist(req->id(), actor, req->reason()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListWhitelist(Ctx* ctx, const v1::ListWhitelistRequest* req,
                                                            v1::ListWhitelistResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto entries, p_.store->Whitelist(req->include_expired()));
    std::vector<v1::WhitelistEntry> selected;
    if (!req->scope().unit_code().empty()) {
      AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(req->scope()));
      for (auto& e : entries) {
        if (std::binary_search(units.begin(), units.end(), e.scope().unit_code())) selected.push_back(e);
      }
    } else {
      selected = std::move(entries);
    }
    PageOut(page, selected, [&](const v1::WhitelistEntry& e) { *resp->add_entries() = e; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

// --- Notifications ---------------------------------------------------------------------------

grpc::ServerUnaryReactor* MonitorServiceImpl::UpsertContact(Ctx* ctx, const v1::UpsertContactRequest* req,
                                                            v1::Contact* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    v1::UnitScope scope;
    scope.set_unit_code(req->contact().unit_code());
    if (!scope.unit_code().empty()) AW_RETURN_IF_ERROR(ScopeUnits(scope).status());
    AW_ASSIGN_OR_RETURN(const std::string actor, ActorOf(*ctx, req->actor()));
    AW_RETURN_IF_ERROR(CheckContact(req->contact(), actor));
    AW_ASSIGN_OR_RETURN(*resp, p_.store->UpsertContact(req->contact(), actor));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListContacts(Ctx* ctx, const v1::ListContactsRequest* req,
                                                           v1::ListContactsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(req->scope()));
    AW_ASSIGN_OR_RETURN(auto contacts, p_.store->Contacts(units));
    PageOut(page, contacts, [&](const v1::Contact& c) { *resp->add_contacts() = c; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListNotifications(Ctx* ctx, const v1::ListNotificationsRequest* req,
                                                                v1::ListNotificationsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(req->scope()));
    std::vector<int> states(req->states().begin(), req->states().end());
    std::vector<v1::Notification> out;
    int64_t total = page.total;
    AW_RETURN_IF_ERROR(
        p_.store->ListNotifications(units, states, page.after_id(), page.size + 1, page.first(), &out, &total));
    FinishKeysetPage(page, out, [](const v1::Notification& n) { return std::vector<int64_t>{n.id()}; }, total,
                     resp->mutable_page());
    for (auto& n : out) *resp->add_notifications() = std::move(n);
    return absl::OkStatus();
  });
}

// --- Theft suspicion ------------------------------------------------------------------------

grpc::ServerUnaryReactor* MonitorServiceImpl::AnalyzeTheft(Ctx* ctx, const v1::AnalyzeTheftRequest* req,
                                                           v1::TheftAnalysis* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, RequiredActor(*ctx, ""));
    AW_ASSIGN_OR_RETURN(*resp, p_.theft->Analyze(*req, actor, ctx));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::GetTheftAnalysis(Ctx* ctx, const v1::GetTheftAnalysisRequest* req,
                                                               v1::TheftAnalysis* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, p_.theft_store->GetRun(req->id()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListTheftAnalyses(Ctx* ctx, const v1::ListTheftAnalysesRequest* req,
                                                                v1::ListTheftAnalysesResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto runs, p_.theft_store->ListRuns(req->rule_code(), page.after_id(), page.size + 1));
    FinishKeysetPage(page, runs, [](const v1::TheftAnalysis& a) { return std::vector<int64_t>{a.id()}; }, -1,
                     resp->mutable_page());
    for (auto& r : runs) *resp->add_analyses() = std::move(r);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListTheftSuspects(Ctx* ctx, const v1::ListTheftSuspectsRequest* req,
                                                                v1::ListTheftSuspectsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_RETURN_IF_ERROR(p_.theft_store->GetRun(req->analysis_id()).status());
    if (req->compare_to() != 0) {
      const auto other = p_.theft_store->GetRun(req->compare_to());
      if (!other.ok()) return absl::NotFoundError(absl::StrCat("compare_to: no theft analysis ", req->compare_to()));
    }
    TheftStore::SuspectFilter f;
    f.run_id = req->analysis_id();
    for (int l : req->levels()) {
      if (l < 1 || l > 3) return absl::InvalidArgumentError("levels: 1 to 3 (level 4 is everyone else, not kept)");
      f.levels.push_back(l);
    }
    if (!req->scope().unit_code().empty()) {
      AW_ASSIGN_OR_RETURN(f.stations, ScopeUnits(req->scope()));
    }
    f.compare_to = req->compare_to();
    f.after_rank = static_cast<int>(page.after_id());
    f.limit = page.size + 1;
    int64_t total = page.total;
    AW_ASSIGN_OR_RETURN(auto suspects, p_.theft_store->ListSuspects(f, page.first() ? &total : nullptr));
    FinishKeysetPage(page, suspects, [](const v1::TheftSuspect& s) { return std::vector<int64_t>{s.rank()}; }, total,
                     resp->mutable_page());
    for (auto& s : suspects) *resp->add_suspects() = std::move(s);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListTheftLabels(Ctx* ctx, const v1::ListTheftLabelsRequest* req,
                                                              v1::ListTheftLabelsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto labels, p_.theft_store->ListLabels(page.after_id(), page.size + 1));
    FinishKeysetPage(page, labels, [](const v1::TheftLabel& l) { return std::vector<int64_t>{l.work_order_id()}; },
                     -1, resp->mutable_page());
    for (auto& l : labels) *resp->add_labels() = std::move(l);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::TrainTheftModel(Ctx* ctx, const v1::TrainTheftModelRequest* req,
                                                              v1::TheftModelVersion* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, RequiredActor(*ctx, ""));
    AW_ASSIGN_OR_RETURN(*resp, p_.theft->Train(req->reason(), actor));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* MonitorServiceImpl::ListTheftModels(Ctx* ctx, const v1::ListTheftModelsRequest* req,
                                                              v1::ListTheftModelsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto models, p_.theft_store->ListModels(static_cast<int>(page.after_id()), page.size + 1));
    AW_ASSIGN_OR_RETURN(const auto in_use, p_.theft_store->ModelInUse());
    resp->set_in_use(in_use ? in_use->version : 0);
    FinishKeysetPage(page, models, [](const v1::TheftModelVersion& m) { return std::vector<int64_t>{m.version()}; },
                     -1, resp->mutable_page());
    for (auto& m : models) *resp->add_models() = std::move(m);
    return absl::OkStatus();
  });
}

}  // namespace aw::monitor
