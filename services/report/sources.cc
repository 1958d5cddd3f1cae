#include "services/report/sources.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/call.h"
#include "common/identity.h"
#include "common/period_field.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "services/report/report_logic.h"

namespace aw::report {
namespace {

bool Within(const google::protobuf::Timestamp& t, absl::Time from, absl::Time to) {
  const absl::Time at = TimeOf(t);
  return at >= from && at < to;
}

// NOT_FOUND (nothing evaluated yet) and FAILED_PRECONDITION (too little
// history) leave a figure out of a report; anything else fails it.
bool Absent(const absl::Status& s) {
  return s.code() == absl::StatusCode::kNotFound || s.code() == absl::StatusCode::kFailedPrecondition;
}

}  // namespace

const v1::Unit* Tree::Find(const std::string& code) const {
  auto it = index.find(code);
  return it == index.end() ? nullptr : &units[it->second];
}

std::string Tree::GroupOf(const std::string& code) const {
  const v1::Unit* u = Find(code);
  if (u == nullptr) return "";
  const auto& path = u->path();
  for (int i = 0; i + 1 < path.size(); ++i) {
    if (path[i] == root) return path[i + 1];
  }
  return "";
}

Sources::Sources(Channels channels, absl::Duration call_timeout)
    : ingest_(v1::IngestService::NewStub(channels.ingest)),
      monitor_(v1::MonitorService::NewStub(channels.monitor)),
      audit_(v1::AuditService::NewStub(channels.audit)),
      scoring_(v1::ScoringService::NewStub(channels.scoring)),
      call_timeout_(call_timeout) {}

std::unique_ptr<grpc::ClientContext> Sources::For::Context() const {
  std::unique_ptr<grpc::ClientContext> ctx = CallContext(s_->call_timeout_);
  ProcessIdentityKey().Sign(identity_, ctx.get());
  return ctx;
}

absl::StatusOr<Tree> Sources::For::TreeOf(const std::string& root) {
  Tree tree;
  tree.root = root;
  v1::ListUnitsRequest req;
  req.mutable_scope()->set_unit_code(root);
  req.mutable_scope()->set_include_descendants(true);
  AW_RETURN_IF_ERROR(ForEachPage(*s_->ingest_, &v1::IngestService::Stub::ListUnits, req, "ingest ListUnits",
                                 [&] { return Context(); },
                                 [&](const v1::ListUnitsResponse& page) -> absl::Status {
                                   for (const v1::Unit& u : page.units()) tree.units.push_back(u);
                                   return absl::OkStatus();
                                 }));
  auto root_it = std::find_if(tree.units.begin(), tree.units.end(), [&](const v1::Unit& u) { return u.code() == root; });
  if (root_it == tree.units.end()) return absl::NotFoundError(absl::StrCat("unit ", root, ": not in the tree"));
  std::iter_swap(tree.units.begin(), root_it);
  const auto& allowed = identity_.principal().unit_codes();
  if (!allowed.empty()) {
    const auto& path = tree.units.front().path();
    const bool covered = std::any_of(path.begin(), path.end(), [&](const std::string& p) {
      return std::find(allowed.begin(), allowed.end(), p) != allowed.end();
    });
    if (!covered) return absl::PermissionDeniedError(absl::StrCat("unit ", root, ": outside the requester's units"));
  }
  for (size_t i = 0; i < tree.units.size(); ++i) tree.index[tree.units[i].code()] = i;
  for (const v1::Unit& u : tree.units) {
    tree.names[u.code()] = u.name();
    if (u.code() != root) tree.children[u.parent_code()].push_back(u.code());
  }
  return tree;
}

absl::StatusOr<std::vector<std::string>> Sources::For::UnitPath(const std::string& unit, const std::string& field) {
  v1::GetUnitRequest req;
  req.set_code(unit);
  v1::UnitPath path;
  const grpc::Status s = s_->ingest_->GetUnitPath(Context().get(), req, &path);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return absl::NotFoundError(absl::StrCat(field, ": no unit ", unit));
  }
  if (!s.ok()) return FromGrpcStatus(s, "ingest GetUnitPath");
  std::vector<std::string> out;
  for (const v1::Unit& u : path.units()) out.push_back(u.code());
  return out;
}

absl::StatusOr<Names> Sources::For::IndicatorNames(int year) {
  v1::ListIndicatorsRequest req;
  req.set_year(year);
  req.set_include_disabled(true);
  Names out;
  AW_RETURN_IF_ERROR(ForEachPage(*s_->ingest_, &v1::IngestService::Stub::ListIndicators, req,
                                 "ingest ListIndicators", [&] { return Context(); },
                                 [&](const v1::ListIndicatorsResponse& page) -> absl::Status {
                                   for (const auto& i : page.indicators()) out[i.code()] = i.name_zh();
                                   return absl::OkStatus();
                                 }));
  return out;
}

absl::StatusOr<Names> Sources::For::ThemeNames() {
  Names out;
  AW_RETURN_IF_ERROR(ForEachPage(*s_->monitor_, &v1::MonitorService::Stub::ListThemes, v1::ListThemesRequest(),
                                 "monitor ListThemes", [&] { return Context(); },
                                 [&](const v1::ListThemesResponse& page) -> absl::Status {
                                   for (const auto& t : page.themes()) out[t.code()] = t.name();
                                   return absl::OkStatus();
                                 }));
  return out;
}

absl::StatusOr<std::string> Sources::For::MeasureName(const std::string& measure) {
  if (measure == kCompositeMeasure) return std::string("综合得分");
  v1::GetIndicatorRequest req;
  req.set_code(measure);
  v1::Indicator indicator;
  const grpc::Status s = s_->ingest_->GetIndicator(Context().get(), req, &indicator);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return absl::InvalidArgumentError(
        absl::StrCat("measure: \"", measure, "\" is neither \"composite\" nor an indicator of the catalogue"));
  }
  if (!s.ok()) return FromGrpcStatus(s, "ingest GetIndicator");
  return indicator.name_zh().empty() ? measure : indicator.name_zh();
}

absl::StatusOr<EvaluationData> Sources::For::Evaluation(const std::string& unit, const Period& period,
                                                        const Tree& tree) {
  EvaluationData data;
  data.unit_name = tree.names.contains(unit) ? tree.names.at(unit) : unit;
  v1::GetEvaluationRequest req;
  req.set_unit_code(unit);
  *req.mutable_period() = ProtoOf(period);
  req.set_weakest(5);
  if (grpc::Status s = s_->scoring_->GetEvaluation(Context().get(), req, &data.evaluation); !s.ok()) {
    return FromGrpcStatus(s, "scoring GetEvaluation");
  }
  const int year = period.first_day().year();
  v1::GetTrendRequest trend;
  trend.set_unit_code(unit);
  trend.mutable_periods()->mutable_first()->set_key(absl::StrCat(year, "-01"));
  trend.mutable_periods()->mutable_last()->set_key(absl::StrCat(year, "-12"));
  v1::GetTrendResponse points;
  if (grpc::Status s = s_->scoring_->GetTrend(Context().get(), trend, &points); !s.ok()) {
    return FromGrpcStatus(s, "scoring GetTrend");
  }
  data.trend.assign(points.points().begin(), points.points().end());
  v1::ForecastRequest forecast;
  forecast.set_unit_code(unit);
  if (period.type() == PeriodType::kMonth) *forecast.mutable_through() = ProtoOf(period);
  v1::ForecastResponse f;
  const grpc::Status fs = s_->scoring_->Forecast(Context().get(), forecast, &f);
  if (fs.ok()) {
    data.forecast = f;
  } else if (absl::Status st = FromGrpcStatus(fs, "scoring Forecast"); !Absent(st)) {
    return st;
  }
  AW_ASSIGN_OR_RETURN(data.indicator_names, IndicatorNames(year));
  return data;
}

absl::StatusOr<ActivityData> Sources::For::Activity(const v1::UnitScope& scope, absl::Time from, absl::Time to,
                                                    std::vector<v1::WarningEvent>* previous_events) {
  ActivityData data;
  const absl::Time before = from - (to - from);
  v1::ListEventsRequest events;
  *events.mutable_scope() = scope;
  AW_RETURN_IF_ERROR(ForEachPage(*s_->monitor_, &v1::MonitorService::Stub::ListEvents, events, "monitor ListEvents",
                                 [&] { return Context(); },
                                 [&](const v1::ListEventsResponse& page) -> absl::Status {
                                   for (const auto& e : page.events()) {
                                     if (Within(e.opened_at(), from, to)) data.events.push_back(e);
                                     if (previous_events != nullptr && Within(e.opened_at(), before, from)) {
                                       previous_events->push_back(e);
                                     }
                                   }
                                   return absl::OkStatus();
                                 }));
  v1::ListTasksRequest tasks;
  *tasks.mutable_scope() = scope;
  AW_RETURN_IF_ERROR(ForEachPage(*s_->audit_, &v1::AuditService::Stub::ListTasks, tasks, "audit ListTasks",
                                 [&] { return Context(); },
                                 [&](const v1::ListTasksResponse& page) -> absl::Status {
                                   for (const auto& t : page.tasks()) {
                                     if (Within(t.audit().created_at(), from, to)) data.tasks.push_back(t);
                                   }
                                   return absl::OkStatus();
                                 }));
  auto orders = [&](bool overdue_only, std::vector<v1::WorkOrder>* out) {
    v1::ListWorkOrdersRequest req;
    *req.mutable_scope() = scope;
    req.set_overdue_only(overdue_only);
    return ForEachPage(*s_->audit_, &v1::AuditService::Stub::ListWorkOrders, req, "audit ListWorkOrders",
                       [&] { return Context(); },
                       [&](const v1::ListWorkOrdersResponse& page) -> absl::Status {
                         for (const auto& o : page.work_orders()) {
                           if (overdue_only ||
                               (o.state() != v1::WORK_ORDER_STATE_DRAFT && Within(o.audit().created_at(), from, to))) {
                             out->push_back(o);
                           }
                         }
                         return absl::OkStatus();
                       });
  };
  AW_RETURN_IF_ERROR(orders(false, &data.orders));
  AW_RETURN_IF_ERROR(orders(true, &data.overdue));
  AW_ASSIGN_OR_RETURN(data.supervision, OpenSupervision(scope));
  return data;
}

absl::StatusOr<std::vector<v1::SupervisionOrder>> Sources::For::OpenSupervision(const v1::UnitScope& scope) {
  v1::ListSupervisionOrdersRequest req;
  *req.mutable_scope() = scope;
  req.set_open_only(true);
  std::vector<v1::SupervisionOrder> out;
  AW_RETURN_IF_ERROR(ForEachPage(*s_->audit_, &v1::AuditService::Stub::ListSupervisionOrders, req,
                                 "audit ListSupervisionOrders", [&] { return Context(); },
                                 [&](const v1::ListSupervisionOrdersResponse& page) -> absl::Status {
                                   out.insert(out.end(), page.orders().begin(), page.orders().end());
                                   return absl::OkStatus();
                                 }));
  return out;
}

absl::StatusOr<std::vector<v1::UnitRates>> Sources::For::Rates(const v1::UnitScope& scope, const Period& period,
                                                              int depth) {
  v1::GetRatesRequest req;
  *req.mutable_scope() = scope;
  req.set_depth(depth);
  *req.mutable_period() = ProtoOf(period);
  std::vector<v1::UnitRates> out;
  AW_RETURN_IF_ERROR(ForEachPage(*s_->audit_, &v1::AuditService::Stub::GetRates, req, "audit GetRates",
                                 [&] { return Context(); },
                                 [&](const v1::GetRatesResponse& page) -> absl::Status {
                                   out.insert(out.end(), page.rates().begin(), page.rates().end());
                                   return absl::OkStatus();
                                 }));
  return out;
}

absl::StatusOr<MonthlyData> Sources::For::Monthly(const std::string& root, const Period& month, const Tree& tree) {
  MonthlyData data;
  v1::GetEvaluationRequest eval;
  eval.set_unit_code(root);
  *eval.mutable_period() = ProtoOf(month);
  v1::Evaluation e;
  const grpc::Status es = s_->scoring_->GetEvaluation(Context().get(), eval, &e);
  if (es.ok()) {
    data.scope_evaluation = e;
  } else if (absl::Status st = FromGrpcStatus(es, "scoring GetEvaluation"); !Absent(st)) {
    return st;
  }
  auto rankings = [&](v1::UnitType type, std::vector<v1::RankingRow>* out) -> absl::Status {
    v1::ListRankingsRequest req;
    req.set_parent_code(root);
    req.set_unit_type(type);
    *req.mutable_period() = ProtoOf(month);
    absl::Status s = ForEachPage(*s_->scoring_, &v1::ScoringService::Stub::ListRankings, req, "scoring ListRankings",
                                 [&] { return Context(); },
                                 [&](const v1::ListRankingsResponse& page) -> absl::Status {
                                   out->insert(out->end(), page.rows().begin(), page.rows().end());
                                   return absl::OkStatus();
                                 });
    return Absent(s) ? absl::OkStatus() : s;
  };
  AW_RETURN_IF_ERROR(rankings(v1::UNIT_TYPE_UNSPECIFIED, &data.children));
  std::vector<v1::UnitType> types;
  for (const v1::Unit& u : tree.units) {
    if (u.code() != root && std::find(types.begin(), types.end(), u.type()) == types.end()) types.push_back(u.type());
  }
  std::sort(types.begin(), types.end());
  for (v1::UnitType t : types) {
    std::vector<v1::RankingRow> rows;
    AW_RETURN_IF_ERROR(rankings(t, &rows));
    if (!rows.empty()) data.by_type.emplace_back(t, std::move(rows));
  }
  v1::UnitScope scope;
  scope.set_unit_code(root);
  scope.set_include_descendants(true);
  AW_ASSIGN_OR_RETURN(data.rates, Rates(scope, month, 0));
  AW_ASSIGN_OR_RETURN(data.supervision, OpenSupervision(scope));
  return data;
}

absl::StatusOr<absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, double>>> Sources::For::Values(
    const std::string& measure, const std::string& unit, bool with_children, const std::vector<Period>& periods) {
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, double>> out;
  for (const Period& p : periods) {
    if (measure == kCompositeMeasure) {
      v1::GetEvaluationRequest req;
      req.set_unit_code(unit);
      *req.mutable_period() = ProtoOf(p);
      v1::Evaluation e;
      const grpc::Status s = s_->scoring_->GetEvaluation(Context().get(), req, &e);
      if (s.ok()) {
        out[unit][p.key()] = e.composite();
      } else if (absl::Status st = FromGrpcStatus(s, "scoring GetEvaluation"); !Absent(st)) {
        return st;
      }
      if (!with_children) continue;
      v1::ListRankingsRequest ranking;
      ranking.set_parent_code(unit);
      *ranking.mutable_period() = ProtoOf(p);
      absl::Status rs = ForEachPage(*s_->scoring_, &v1::ScoringService::Stub::ListRankings, ranking,
                                    "scoring ListRankings", [&] { return Context(); },
                                    [&](const v1::ListRankingsResponse& page) -> absl::Status {
                                      for (const auto& r : page.rows()) out[r.unit_code()][p.key()] = r.composite();
                                      return absl::OkStatus();
                                    });
      if (!rs.ok() && !Absent(rs)) return rs;
    } else {
      v1::QueryReadingsRequest req;
      req.mutable_scope()->set_unit_code(unit);
      req.mutable_scope()->set_include_descendants(with_children);
      req.add_indicator_codes(measure);
      *req.mutable_periods()->mutable_first() = ProtoOf(p);
      *req.mutable_periods()->mutable_last() = ProtoOf(p);
      req.set_include_derived(true);
      AW_RETURN_IF_ERROR(ForEachPage(*s_->ingest_, &v1::IngestService::Stub::QueryReadings, req,
                                     "ingest QueryReadings", [&] { return Context(); },
                                     [&](const v1::QueryReadingsResponse& page) -> absl::Status {
                                       for (const auto& r : page.readings()) {
                                         out[r.key().unit_code()][p.key()] = r.value();
                                       }
                                       return absl::OkStatus();
                                     }));
    }
  }
  return out;
}

absl::StatusOr<v1::DrillDownResponse> Sources::For::Drill(const std::string& unit, const Period& period,
                                                          const std::string& measure, const Tree& tree) {
  v1::DrillDownResponse out;
  out.set_measure(measure);
  AW_ASSIGN_OR_RETURN(auto values, Values(measure, unit, /*with_children=*/true, {period}));
  auto fill = [&](v1::DrillDownRow* row, const std::string& code, const Period& p) {
    row->set_unit_code(code);
    row->set_unit_name(tree.names.contains(code) ? tree.names.at(code) : code);
    if (const v1::Unit* u = tree.Find(code)) row->set_unit_type(u->type());
    *row->mutable_period() = ProtoOf(p);
    row->set_has_children(tree.children.contains(code));
    auto u = values.find(code);
    if (u != values.end()) {
      auto v = u->second.find(p.key());
      if (v != u->second.end()) {
        row->set_has_value(true);
        row->set_value(v->second);
      }
    }
  };
  fill(out.mutable_unit(), unit, period);
  if (auto it = tree.children.find(unit); it != tree.children.end()) {
    for (const std::string& child : it->second) fill(out.add_children(), child, period);
  }
  std::vector<Period> parts;
  if (period.type() == PeriodType::kYear) {
    AW_ASSIGN_OR_RETURN(parts, period.Split(PeriodType::kHalfYear));
  } else if (period.type() == PeriodType::kHalfYear) {
    AW_ASSIGN_OR_RETURN(parts, period.Split(PeriodType::kMonth));
  }
  AW_ASSIGN_OR_RETURN(values, Values(measure, unit, /*with_children=*/false, parts));
  for (const Period& p : parts) fill(out.add_periods(), unit, p);
  return out;
}

}  // namespace aw::report
