#include "services/scoring/scoring_service.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/identity.h"
#include "common/paging.h"
#include "common/period_field.h"
#include "common/status.h"

namespace aw::scoring {
namespace {

KeyPage KeyPageOf(const Page& page) { return KeyPage{.before = page.after_id(), .limit = page.size + 1}; }

absl::Status RequireYear(int32_t year) {
  if (year < 2000 || year > 2100) return absl::InvalidArgumentError("year: must lie in 2000..2100");
  return absl::OkStatus();
}

absl::Status RequireUnit(const std::string& code, const char* field) {
  if (code.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  return absl::OkStatus();
}

// The evaluation period a request names (a month, half-year or year).
absl::StatusOr<Period> EvaluatedPeriod(const v1::Period& period, const char* field) {
  AW_ASSIGN_OR_RETURN(const Period p, RequiredPeriod(period, field));
  if (!IsEvaluated(p.type())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", p.key(), " is a ", PeriodTypeName(p.type()),
                                                   "; months, half-years and years are evaluated"));
  }
  return p;
}

v1::TrendPoint PointOf(const UnitFigures& f) {
  v1::TrendPoint t;
  t.set_evaluated(true);
  t.set_composite(f.composite);
  if (f.main_total) t.set_main_total(*f.main_total);
  if (f.process_total) t.set_process_total(*f.process_total);
  t.set_business_total(f.business_total);
  t.set_rank(f.rank);
  t.set_run_id(f.run_id);
  return t;
}

}  // namespace

// --- Schemes ------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* ScoringServiceImpl::UpsertScheme(Ctx* ctx, const v1::UpsertSchemeRequest* req,
                                                           v1::Scheme* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    const v1::Scheme scheme = Normalised(req->scheme());
    AW_RETURN_IF_ERROR(ValidateScheme(scheme));
    if (req->expected_version() > 0 && req->reason().empty()) {
      return absl::InvalidArgumentError("reason: required when a scheme changes");
    }
    // Every item scores an indicator of the catalogue, in its direction.
    AW_ASSIGN_OR_RETURN(const auto catalogue, p_.sources->Indicators(scheme.year()));
    for (int i = 0; i < scheme.items_size(); ++i) {
      const v1::SchemeItem& it = scheme.items(i);
      auto found = catalogue.find(it.indicator_code());
      if (found == catalogue.end()) {
        return absl::InvalidArgumentError(absl::StrCat("scheme.items[", i, "].indicator_code: ", it.indicator_code(),
                                                       " is not in ingest's catalogue for ", scheme.year()));
      }
      if (found->second.direction() != it.direction()) {
        return absl::InvalidArgumentError(absl::StrCat("scheme.items[", i, "].direction: ",
                                                       v1::Direction_Name(it.direction()), ", but the catalogue says ",
                                                       v1::Direction_Name(found->second.direction()), " for ",
                                                       it.indicator_code()));
      }
    }
    // The year's evaluations not yet due are scheduled.
    const absl::Time now = p_.clock->Now();
    std::vector<Due> schedule;
    for (const auto& [period, at] : ScheduleOf(scheme, now)) {
      schedule.push_back(Due{.period_key = period.key(),
                             .period_type = static_cast<int>(period.type()),
                             .trigger = v1::RUN_TRIGGER_SCHEDULE,
                             .due_at = at});
    }
    AW_ASSIGN_OR_RETURN(*resp, p_.store->SaveScheme(scheme, req->expected_version(), caller.subject(), req->reason(),
                                                    now, schedule));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::GetScheme(Ctx* ctx, const v1::GetSchemeRequest* req, v1::Scheme* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequireYear(req->year()));
    if (req->version() < 0) return absl::InvalidArgumentError("version: must be >= 0");
    AW_ASSIGN_OR_RETURN(*resp, p_.store->GetScheme(req->year(), req->version()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::ListSchemeVersions(Ctx* ctx, const v1::ListSchemeVersionsRequest* req,
                                                                 v1::ListSchemeVersionsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequireYear(req->year()));
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto schemes, p_.store->ListSchemeVersions(req->year(), KeyPageOf(page)));
    FinishKeysetPage(page, schemes, [](const v1::Scheme& s) { return std::vector<int64_t>{s.audit().version()}; }, -1,
                     resp->mutable_page());
    for (auto& s : schemes) *resp->add_schemes() = std::move(s);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::SetUnitSelection(Ctx* ctx, const v1::SetUnitSelectionRequest* req,
                                                               v1::UnitSelection* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireYear(req->year()));
    AW_RETURN_IF_ERROR(RequireUnit(req->unit_code(), "unit_code"));
    if (req->reason().empty()) return absl::InvalidArgumentError("reason: required");
    AW_ASSIGN_OR_RETURN(const v1::Scheme scheme, p_.store->GetScheme(req->year(), 0));
    std::vector<std::string> codes;
    for (int i = 0; i < req->indicator_codes_size(); ++i) {
      const std::string& code = req->indicator_codes(i);
      const bool in_scheme = std::any_of(scheme.items().begin(), scheme.items().end(),
                                         [&](const v1::SchemeItem& it) { return it.indicator_code() == code; });
      if (!in_scheme) {
        return absl::InvalidArgumentError(
            absl::StrCat("indicator_codes[", i, "]: ", code, " is not in the ", req->year(), " scheme"));
      }
      if (std::find(codes.begin(), codes.end(), code) != codes.end()) {
        return absl::InvalidArgumentError(absl::StrCat("indicator_codes[", i, "]: ", code, " appears twice"));
      }
      codes.push_back(code);
    }
    AW_ASSIGN_OR_RETURN(*resp, p_.store->SetSelection(req->year(), req->unit_code(), codes, req->expected_version(),
                                                      caller.subject(), req->reason(), p_.clock->Now()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::GetUnitSelection(Ctx* ctx, const v1::GetUnitSelectionRequest* req,
                                                               v1::UnitSelection* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequireYear(req->year()));
    AW_RETURN_IF_ERROR(RequireUnit(req->unit_code(), "unit_code"));
    AW_ASSIGN_OR_RETURN(*resp, p_.store->GetSelection(req->year(), req->unit_code()));
    return absl::OkStatus();
  });
}

// --- Bonuses ------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* ScoringServiceImpl::GrantBonus(Ctx* ctx, const v1::GrantBonusRequest* req, v1::Bonus* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_RETURN_IF_ERROR(RequireUnit(req->unit_code(), "unit_code"));
    AW_ASSIGN_OR_RETURN(const Period period, EvaluatedPeriod(req->period(), "period"));
    if (!(req->points() > 0 && std::isfinite(req->points()))) {
      return absl::InvalidArgumentError("points: must be > 0");
    }
    if (req->reason().empty()) return absl::InvalidArgumentError("reason: required");
    if (req->idempotency_key().empty()) {
      return absl::InvalidArgumentError("idempotency_key: required (a retry sends the same key)");
    }
    v1::Bonus bonus;
    bonus.set_unit_code(req->unit_code());
    bonus.set_points(req->points());
    bonus.set_reason(req->reason());
    bonus.set_approved_by(caller.subject());
    AW_ASSIGN_OR_RETURN(*resp, p_.store->GrantBonus(bonus, RowOf(period), req->idempotency_key(), DeterministicBytes(*req),
                                                    p_.clock->Now()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::ListBonuses(Ctx* ctx, const v1::ListBonusesRequest* req,
                                                          v1::ListBonusesResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::optional<PeriodRow> period;
    if (!req->period().key().empty()) {
      AW_ASSIGN_OR_RETURN(const Period p, RequiredPeriod(req->period(), "period"));
      period = RowOf(p);
    }
    // The scope's units as the tree stands today (all when unset).
    std::vector<std::string> units;
    if (const std::string& root = req->scope().unit_code(); !root.empty()) {
      units.push_back(root);
      if (req->scope().include_descendants()) {
        AW_ASSIGN_OR_RETURN(const auto below,
                            p_.sources->UnitsOn(absl::ToCivilDay(p_.clock->Now(), absl::UTCTimeZone()), root));
        for (const UnitIn& u : below) {
          if (u.code != root) units.push_back(u.code);
        }
      }
    }
    AW_ASSIGN_OR_RETURN(auto bonuses, p_.store->ListBonuses(units, period, KeyPageOf(page)));
    FinishKeysetPage(page, bonuses, [](const v1::Bonus& b) { return std::vector<int64_t>{b.id()}; }, -1,
                     resp->mutable_page());
    for (auto& b : bonuses) *resp->add_bonuses() = std::move(b);
    return absl::OkStatus();
  });
}

// --- Runs ---------------------------------------------------------------------------------------

grpc::ServerUnaryReactor* ScoringServiceImpl::RunEvaluation(Ctx* ctx, const v1::RunEvaluationRequest* req,
                                                            v1::EvaluationRun* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    AW_ASSIGN_OR_RETURN(const Period period, EvaluatedPeriod(req->period(), "period"));
    AW_ASSIGN_OR_RETURN(*resp, p_.evaluator->Run(period, v1::RUN_TRIGGER_ON_DEMAND, caller.subject(),
                                                 req->publish() ? PublishMode::kYes : PublishMode::kNo));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::PublishRun(Ctx* ctx, const v1::PublishRunRequest* req,
                                                         v1::EvaluationRun* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const v1::Principal caller, RequiredPrincipal(*ctx));
    if (req->run_id() <= 0) return absl::InvalidArgumentError("run_id: required");
    AW_ASSIGN_OR_RETURN(*resp, p_.store->Publish(req->run_id(), caller.subject(), req->reason(), p_.clock->Now()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::GetRun(Ctx* ctx, const v1::GetRunRequest* req, v1::EvaluationRun* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (req->run_id() <= 0) return absl::InvalidArgumentError("run_id: required");
    AW_ASSIGN_OR_RETURN(*resp, p_.store->GetRun(req->run_id()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::ListRuns(Ctx* ctx, const v1::ListRunsRequest* req,
                                                       v1::ListRunsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::string key;
    if (!req->period().key().empty()) {
      AW_ASSIGN_OR_RETURN(const Period p, EvaluatedPeriod(req->period(), "period"));
      key = p.key();
    }
    AW_ASSIGN_OR_RETURN(auto runs, p_.store->ListRuns(key, KeyPageOf(page)));
    FinishKeysetPage(page, runs, [](const v1::EvaluationRun& r) { return std::vector<int64_t>{r.id()}; }, -1,
                     resp->mutable_page());
    for (auto& r : runs) *resp->add_runs() = std::move(r);
    return absl::OkStatus();
  });
}

// --- Reading the scores ---------------------------------------------------------------------------

absl::StatusOr<int64_t> ScoringServiceImpl::RunFor(const Period& period, int64_t run_id) {
  if (run_id > 0) {
    AW_ASSIGN_OR_RETURN(const v1::EvaluationRun run, p_.store->GetRun(run_id));
    if (run.period().key() != period.key()) {
      return absl::InvalidArgumentError(
          absl::StrCat("run_id: run ", run_id, " evaluated ", run.period().key(), ", not ", period.key()));
    }
    return run_id;
  }
  AW_ASSIGN_OR_RETURN(const int64_t id, p_.store->RunOf(period.key()));
  if (id == 0) return absl::NotFoundError(absl::StrCat("period: ", period.key(), " has not been evaluated"));
  return id;
}

absl::StatusOr<v1::Evaluation> ScoringServiceImpl::EvaluationOf(const std::string& unit, const Period& period,
                                                                int64_t run_id, int weakest) {
  AW_ASSIGN_OR_RETURN(const int64_t run, RunFor(period, run_id));
  AW_ASSIGN_OR_RETURN(v1::Evaluation e, p_.store->Breakdown(run, unit));
  for (auto& w : WeakestItems(e, weakest)) *e.add_weakest() = std::move(w);
  return e;
}

grpc::ServerUnaryReactor* ScoringServiceImpl::GetEvaluation(Ctx* ctx, const v1::GetEvaluationRequest* req,
                                                            v1::Evaluation* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequireUnit(req->unit_code(), "unit_code"));
    AW_ASSIGN_OR_RETURN(const Period period, EvaluatedPeriod(req->period(), "period"));
    if (req->weakest() < 0 || req->weakest() > 100) return absl::InvalidArgumentError("weakest: must lie in 0..100");
    AW_ASSIGN_OR_RETURN(*resp, EvaluationOf(req->unit_code(), period, req->run_id(),
                                            req->weakest() == 0 ? 3 : req->weakest()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::ListRankings(Ctx* ctx, const v1::ListRankingsRequest* req,
                                                           v1::ListRankingsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequireUnit(req->parent_code(), "parent_code"));
    AW_ASSIGN_OR_RETURN(const Period period, EvaluatedPeriod(req->period(), "period"));
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(const int64_t run, RunFor(period, req->run_id()));
    AW_ASSIGN_OR_RETURN(auto rows, p_.store->Below(run, req->parent_code(), req->unit_type()));
    // The same units in the previous period's run, when it was evaluated.
    absl::flat_hash_map<std::string, std::pair<int, double>> before;
    AW_ASSIGN_OR_RETURN(const int64_t previous_run, p_.store->RunOf(period.Previous().key()));
    if (previous_run > 0) {
      AW_ASSIGN_OR_RETURN(const auto previous, p_.store->Below(previous_run, req->parent_code(), req->unit_type()));
      std::vector<double> values;
      for (const auto& f : previous) values.push_back(f.composite);
      const std::vector<int> ranks = CompetitionRanks(values);
      for (size_t i = 0; i < previous.size(); ++i) before[previous[i].unit_code] = {ranks[i], previous[i].composite};
    }
    std::vector<double> values;
    for (const auto& f : rows) values.push_back(f.composite);
    const std::vector<int> ranks = CompetitionRanks(values);
    std::vector<v1::RankingRow> ranked;
    for (size_t i = 0; i < rows.size(); ++i) {
      v1::RankingRow r;
      r.set_rank(ranks[i]);
      r.set_unit_code(rows[i].unit_code);
      r.set_unit_type(static_cast<v1::UnitType>(rows[i].unit_type));
      r.set_composite(rows[i].composite);
      if (rows[i].main_total) r.set_main_total(*rows[i].main_total);
      if (rows[i].process_total) r.set_process_total(*rows[i].process_total);
      r.set_business_total(rows[i].business_total);
      r.set_percentile(Percentile(ranks[i], static_cast<int>(rows.size())));
      if (auto b = before.find(rows[i].unit_code); b != before.end()) {
        r.set_previous_rank(b->second.first);
        r.set_previous_composite(b->second.second);
      }
      ranked.push_back(std::move(r));
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const v1::RankingRow& a, const v1::RankingRow& b) {
      return a.rank() != b.rank() ? a.rank() < b.rank() : a.unit_code() < b.unit_code();
    });
    resp->set_run_id(run);
    resp->set_ranked(static_cast<int>(ranked.size()));
    PageOut(page, ranked, [&](const v1::RankingRow& r) { *resp->add_rows() = r; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::GetTrend(Ctx* ctx, const v1::GetTrendRequest* req,
                                                       v1::GetTrendResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequireUnit(req->unit_code(), "unit_code"));
    AW_ASSIGN_OR_RETURN(const auto keys, PeriodKeys(req->periods(), "periods"));
    if (keys.empty()) return absl::InvalidArgumentError("periods.first: required");
    AW_RETURN_IF_ERROR(EvaluatedPeriod(req->periods().first(), "periods.first").status());
    AW_ASSIGN_OR_RETURN(const auto figures, p_.store->FiguresOver(req->unit_code(), keys));
    absl::flat_hash_map<std::string, const UnitFigures*> by_key;
    for (const auto& f : figures) by_key[f.period_key] = &f;
    std::optional<double> last;
    for (const std::string& key : keys) {
      v1::TrendPoint* t = resp->add_points();
      auto f = by_key.find(key);
      if (f != by_key.end()) {
        *t = PointOf(*f->second);
        if (last) t->set_change(t->composite() - *last);
        last = t->composite();
      }
      const Period p = *Period::Parse(key);
      t->mutable_period()->set_type(static_cast<v1::PeriodType>(p.type()));
      t->mutable_period()->set_key(key);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::ComparePeriods(Ctx* ctx, const v1::ComparePeriodsRequest* req,
                                                             v1::ComparePeriodsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequireUnit(req->unit_code(), "unit_code"));
    AW_ASSIGN_OR_RETURN(const Period period, EvaluatedPeriod(req->period(), "period"));
    Period base = period.Previous();
    if (!req->base_period().key().empty()) {
      AW_ASSIGN_OR_RETURN(base, EvaluatedPeriod(req->base_period(), "base_period"));
    }
    AW_ASSIGN_OR_RETURN(v1::Evaluation current, EvaluationOf(req->unit_code(), period, 0, 3));
    auto before = EvaluationOf(req->unit_code(), base, 0, 3);
    if (absl::IsNotFound(before.status())) {
      return absl::NotFoundError(absl::StrCat("base_period: ", base.key(), " has no evaluation of ", req->unit_code()));
    }
    AW_RETURN_IF_ERROR(before.status());
    *resp = Compare(current, *before);
    *resp->mutable_current() = std::move(current);
    *resp->mutable_base() = *std::move(before);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ScoringServiceImpl::Forecast(Ctx* ctx, const v1::ForecastRequest* req,
                                                       v1::ForecastResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_RETURN_IF_ERROR(RequireUnit(req->unit_code(), "unit_code"));
    Period through = Period::Containing(PeriodType::kMonth, absl::ToCivilDay(p_.clock->Now(), absl::UTCTimeZone()));
    if (!req->through().key().empty()) {
      AW_ASSIGN_OR_RETURN(through, RequiredPeriod(req->through(), "through"));
      if (through.type() != PeriodType::kMonth) return absl::InvalidArgumentError("through: must be a month");
    }
    // The 24 months up to `through`, of which the evaluated ones are the history.
    std::vector<std::string> keys;
    for (int back = 23; back >= 0; --back) keys.push_back(through.Shift(-back).key());
    AW_ASSIGN_OR_RETURN(const auto figures, p_.store->FiguresOver(req->unit_code(), keys));
    if (figures.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("unit_code: ", req->unit_code(), " has no evaluated month up to ", through.key()));
    }
    std::vector<double> composites;
    absl::flat_hash_map<std::string, std::vector<double>> values;  // by indicator
    std::vector<std::string> codes;
    for (const UnitFigures& f : figures) {
      composites.push_back(f.composite);
      AW_ASSIGN_OR_RETURN(const v1::Evaluation e, p_.store->Breakdown(f.run_id, req->unit_code()));
      for (const v1::IndicatorScore& sc : e.indicators()) {
        if (sc.missing()) continue;
        auto& series = values[sc.indicator_code()];
        if (series.empty()) codes.push_back(sc.indicator_code());
        series.push_back(sc.value());
      }
    }
    const Period last = *Period::Parse(figures.back().period_key);
    resp->mutable_period()->set_type(v1::PERIOD_TYPE_MONTH);
    resp->mutable_period()->set_key(last.Next().key());
    AW_ASSIGN_OR_RETURN(const Prediction c, ForecastNext(composites));
    resp->mutable_composite()->set_point(c.point);
    resp->mutable_composite()->set_lower(c.lower);
    resp->mutable_composite()->set_upper(c.upper);
    std::sort(codes.begin(), codes.end());
    for (const std::string& code : codes) {
      AW_ASSIGN_OR_RETURN(const Prediction p, ForecastNext(values[code]));
      v1::ForecastValue* v = resp->add_indicators();
      v->set_indicator_code(code);
      v->set_point(p.point);
      v->set_lower(p.lower);
      v->set_upper(p.upper);
    }
    resp->set_method(kForecastMethod);
    resp->set_interval_percent(80);
    resp->set_history(static_cast<int>(composites.size()));
    return absl::OkStatus();
  });
}

}  // namespace aw::scoring
