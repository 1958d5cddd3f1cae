#include "services/ingest/ingest_service.h"

#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_util.h"
#include "common/identity.h"
#include "common/paging.h"
#include "common/read_ahead_stream.h"
#include "common/status.h"
#include "services/ingest/consumption_logic.h"

namespace aw::ingest {
namespace {

std::string RandomId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

std::string KeyText(const v1::ReadingKey& key, const Period& period) {
  return absl::StrCat(key.unit_code(), " / ", key.indicator_code(), " / ", period.key());
}

std::vector<int> IdsOf(const std::vector<const UnitInfo*>& units) {
  std::vector<int> ids;
  ids.reserve(units.size());
  for (const UnitInfo* u : units) ids.push_back(u->id);
  return ids;
}

// Units of the query from the key's unit on, `count` at a time (all when -1).
std::vector<const UnitInfo*> UnitSlice(const ReadingQuery& q, size_t from, int count) {
  const size_t end = count < 0 ? q.units.size() : std::min(q.units.size(), from + count);
  return std::vector<const UnitInfo*>(q.units.begin() + from, q.units.begin() + end);
}

}  // namespace

// --- Org units -------------------------------------------------------------------

grpc::ServerUnaryReactor* IngestServiceImpl::CreateUnit(Ctx* ctx, const v1::CreateUnitRequest* req, v1::Unit* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    v1::CreateUnitRequest unit = *req;
    AW_ASSIGN_OR_RETURN(*unit.mutable_actor(), ActorOf(*ctx, req->actor()));
    AW_RETURN_IF_ERROR(CheckNewUnitFields(unit));
    AW_ASSIGN_OR_RETURN(*resp, p_.store->CreateUnit(unit));
    return absl::OkStatus();
  });
}

absl::Status IngestServiceImpl::ChangeUnit(const UnitChange& change, v1::Unit* out) {
  AW_RETURN_IF_ERROR(CheckChangeFields(change));
  AW_ASSIGN_OR_RETURN(*out, p_.store->ChangeUnit(change));
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* IngestServiceImpl::RenameUnit(Ctx* ctx, const v1::RenameUnitRequest* req, v1::Unit* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, ActorOf(*ctx, req->actor()));
    return ChangeUnit({UnitChange::kRename, req->code(), req->new_name(), "", req->effective_from(), actor,
                       req->reason(), req->expected_version()},
                      resp);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::MoveUnit(Ctx* ctx, const v1::MoveUnitRequest* req, v1::Unit* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, ActorOf(*ctx, req->actor()));
    return ChangeUnit({UnitChange::kMove, req->code(), "", req->new_parent_code(), req->effective_from(),
                       actor, req->reason(), req->expected_version()},
                      resp);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::DeactivateUnit(Ctx* ctx, const v1::DeactivateUnitRequest* req,
                                                            v1::Unit* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const std::string actor, ActorOf(*ctx, req->actor()));
    return ChangeUnit({UnitChange::kDeactivate, req->code(), "", "", req->effective_from(), actor,
                       req->reason(), req->expected_version()},
                      resp);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetUnit(Ctx* ctx, const v1::GetUnitRequest* req, v1::Unit* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const absl::CivilDay day, DateOrToday("as_of", req->as_of(), Today()));
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "code", req->code()));
    if (!catalogue->ToProto(*unit, day, resp)) {
      return absl::NotFoundError(
          absl::StrCat("unit ", req->code(), " did not exist on ", absl::FormatCivilTime(day)));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListUnits(Ctx* ctx, const v1::ListUnitsRequest* req,
                                                       v1::ListUnitsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(const absl::CivilDay day, DateOrToday("as_of", req->as_of(), Today()));
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(*catalogue, req->scope(), day, req->include_inactive()));
    std::vector<const UnitInfo*> selected;
    for (const UnitInfo* u : units) {
      if (req->types().empty() || std::find(req->types().begin(), req->types().end(), u->type) != req->types().end()) {
        selected.push_back(u);
      }
    }
    PageOut(page, selected, [&](const UnitInfo* u) { catalogue->ToProto(*u, day, resp->add_units()); },
            resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetUnitPath(Ctx* ctx, const v1::GetUnitRequest* req,
                                                         v1::UnitPath* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const absl::CivilDay day, DateOrToday("as_of", req->as_of(), Today()));
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "code", req->code()));
    const auto path = catalogue->PathAsOf(*unit, day);
    if (path.empty()) {
      return absl::NotFoundError(
          absl::StrCat("unit ", req->code(), " did not exist on ", absl::FormatCivilTime(day)));
    }
    for (const UnitInfo* u : path) catalogue->ToProto(*u, day, resp->add_units());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetUnitHistory(Ctx* ctx, const v1::GetUnitRequest* req,
                                                            v1::UnitHistory* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "code", req->code()));
    for (const UnitVersion& v : unit->versions) catalogue->VersionToProto(*unit, v, resp->add_versions());
    return absl::OkStatus();
  });
}

// --- Indicator catalogue ---------------------------------------------------------

grpc::ServerUnaryReactor* IngestServiceImpl::UpsertIndicator(Ctx* ctx, const v1::UpsertIndicatorRequest* req,
                                                             v1::Indicator* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    v1::UpsertIndicatorRequest indicator = *req;
    AW_ASSIGN_OR_RETURN(*indicator.mutable_actor(), ActorOf(*ctx, req->actor()));
    AW_RETURN_IF_ERROR(ValidateIndicator(indicator.indicator()));
    AW_RETURN_IF_ERROR(CheckText("actor", indicator.actor(), true));
    AW_RETURN_IF_ERROR(CheckText("reason", indicator.reason(), false, 1000));
    AW_ASSIGN_OR_RETURN(*resp, p_.store->UpsertIndicator(indicator));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetIndicator(Ctx* ctx, const v1::GetIndicatorRequest* req,
                                                          v1::Indicator* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* info, FindIndicator(*catalogue, "code", req->code()));
    const v1::Indicator* def = req->year() == 0 ? &info->versions.back() : info->InYear(req->year());
    if (def == nullptr) {
      return absl::NotFoundError(absl::StrCat("indicator ", req->code(), " has no definition for ", req->year()));
    }
    *resp = *def;
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListIndicators(Ctx* ctx, const v1::ListIndicatorsRequest* req,
                                                            v1::ListIndicatorsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    std::vector<const v1::Indicator*> selected;
    for (const IndicatorInfo& info : catalogue->indicators()) {
      const v1::Indicator* def = req->year() == 0 ? &info.versions.back() : info.InYear(req->year());
      if (def == nullptr || (!def->enabled() && !req->include_disabled())) continue;
      if (!req->categories().empty() &&
          std::find(req->categories().begin(), req->categories().end(), def->category()) == req->categories().end()) {
        continue;
      }
      selected.push_back(def);
    }
    std::sort(selected.begin(), selected.end(), [](const auto* a, const auto* b) { return a->code() < b->code(); });
    PageOut(page, selected, [&](const v1::Indicator* d) { *resp->add_indicators() = *d; }, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetIndicatorHistory(Ctx* ctx, const v1::GetIndicatorRequest* req,
                                                                 v1::IndicatorHistory* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* info, FindIndicator(*catalogue, "code", req->code()));
    for (const v1::Indicator& v : info->versions) *resp->add_versions() = v;
    return absl::OkStatus();
  });
}

// --- Readings ----------------------------------------------------------------------

absl::StatusOr<std::vector<StoredReading>> IngestServiceImpl::ReadShorter(const std::vector<int>& unit_ids,
                                                                          const std::vector<int>& indicator_ids,
                                                                          const std::vector<PeriodType>& types,
                                                                          absl::CivilDay first_day,
                                                                          absl::CivilDay last_day) {
  std::vector<StoredReading> out;
  for (PeriodType type : types) {
    AW_ASSIGN_OR_RETURN(auto part, p_.store->ReadVersions(unit_ids, indicator_ids, type, first_day, last_day, false));
    out.insert(out.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return out;
}

grpc::ServerBidiReactor<v1::ReadingBatch, v1::BatchResult>* IngestServiceImpl::IngestReadings(Ctx* ctx) {
  if (grpc::Status s = CheckIdentity(*ctx); !s.ok()) {
    return new FailedBidiReactor<v1::ReadingBatch, v1::BatchResult>(s);
  }
  return p_.bulk->Open();
}

grpc::ServerBidiReactor<v1::ConsumptionBatch, v1::BatchResult>* IngestServiceImpl::IngestConsumption(Ctx* ctx) {
  if (grpc::Status s = CheckIdentity(*ctx); !s.ok()) {
    return new FailedBidiReactor<v1::ConsumptionBatch, v1::BatchResult>(s);
  }
  return p_.bulk->OpenConsumption([this](const v1::ConsumptionBatch& batch) -> absl::StatusOr<v1::BatchResult> {
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    return p_.consumption->Apply(batch, *catalogue, p_.clock->Now());
  });
}

absl::StatusOr<IngestServiceImpl::ConsumptionWindow> IngestServiceImpl::WindowOf(const v1::UnitScope& scope,
                                                                                 const std::string& first_day,
                                                                                 const std::string& last_day) {
  ConsumptionWindow w;
  if (!ParseIsoDay(first_day, &w.first)) return InvalidField("first_day", "an ISO date, e.g. 2025-01-01");
  if (!ParseIsoDay(last_day, &w.last)) return InvalidField("last_day", "an ISO date, e.g. 2025-12-31");
  if (w.last < w.first) return InvalidField("last_day", "before first_day");
  if (w.last - w.first + 1 > kMaxConsumptionDays) {
    return InvalidField("last_day", absl::StrCat("at most ", kMaxConsumptionDays, " days after first_day"));
  }
  if (scope.unit_code().empty()) return InvalidField("scope.unit_code", "required");
  AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
  AW_ASSIGN_OR_RETURN(auto units, ScopeUnits(*catalogue, scope, w.last, true));
  for (const UnitInfo* u : units) {
    if (u->type == v1::UNIT_TYPE_SUPPLY_STATION) w.stations.push_back(u->code);
  }
  return w;
}

grpc::ServerUnaryReactor* IngestServiceImpl::QueryConsumption(Ctx* ctx, const v1::QueryConsumptionRequest* req,
                                                              v1::QueryConsumptionResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(const ConsumptionWindow w, WindowOf(req->scope(), req->first_day(), req->last_day()));
    const std::vector<std::string> ids(req->customer_ids().begin(), req->customer_ids().end());
    AW_ASSIGN_OR_RETURN(const int64_t total, p_.consumption->Count(w.stations, ids));
    AW_ASSIGN_OR_RETURN(auto rows,
                        p_.consumption->Read(w.stations, ids, w.first, w.last, {.offset = page.offset, .limit = page.size}));
    for (auto& r : rows) *resp->add_customers() = std::move(r);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::ConsumptionPage>* IngestServiceImpl::StreamConsumption(
    Ctx* ctx, const v1::StreamConsumptionRequest* req) {
  if (grpc::Status s = CheckIdentity(*ctx); !s.ok()) return new FailedWriteReactor<v1::ConsumptionPage>(s);
  if (req->page_size() < 0 || req->page_size() > kMaxPageSize) {
    return new FailedWriteReactor<v1::ConsumptionPage>(
        ToGrpcStatus(InvalidField("page_size", absl::StrCat("0 to ", kMaxPageSize))));
  }
  // The window is checked with the first page; each page then starts after
  // the last customer of the one before.
  struct State {
    std::optional<ConsumptionWindow> window;
    std::string after;
    bool done = false;
  };
  auto state = std::make_shared<State>();
  state->after = req->after_customer_id();
  const int size = req->page_size() > 0 ? req->page_size() : kDefaultConsumptionPage;
  return new ReadAheadStream<v1::ConsumptionPage>(
      ctx, p_.workers, [=, this]() -> absl::StatusOr<std::optional<v1::ConsumptionPage>> {
        if (state->done) return std::nullopt;
        v1::ConsumptionPage page;
        const bool first = !state->window;
        if (first) {
          AW_ASSIGN_OR_RETURN(state->window, WindowOf(req->scope(), req->first_day(), req->last_day()));
          AW_ASSIGN_OR_RETURN(const int64_t total, p_.consumption->Count(state->window->stations, {}));
          page.set_total(total);
        }
        const ConsumptionWindow& w = *state->window;
        AW_ASSIGN_OR_RETURN(auto rows, p_.consumption->Read(w.stations, {}, w.first, w.last,
                                                            {.after = state->after, .limit = size}));
        state->done = static_cast<int>(rows.size()) < size;
        if (rows.empty() && !first) return std::nullopt;  // the page before was the last, and full
        if (!rows.empty()) state->after = rows.back().customer().customer_id();
        page.set_last_customer_id(state->after);
        for (auto& r : rows) *page.add_customers() = std::move(r);
        return page;
      });
}

grpc::ServerReadReactor<v1::ReadingBatch>* IngestServiceImpl::ImportReadings(Ctx* ctx,
                                                                           v1::ImportReadingsResponse* resp) {
  if (grpc::Status s = CheckIdentity(*ctx); !s.ok()) return new FailedReadReactor<v1::ReadingBatch>(s);
  return p_.bulk->OpenImport(resp);
}

absl::Status IngestServiceImpl::WriteOne(const v1::ReadingKey& key, double value, const std::string& entered_by,
                                         const std::string& source, const std::string& reason,
                                         const std::string& request_id, int expected_version, bool must_exist,
                                         v1::Reading* out) {
  AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
  AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "key.unit_code", key.unit_code()));
  AW_ASSIGN_OR_RETURN(const IndicatorInfo* indicator,
                      FindIndicator(*catalogue, "key.indicator_code", key.indicator_code()));
  AW_ASSIGN_OR_RETURN(const Period period, FromProto(key.period(), "key.period"));
  if (entered_by.empty()) return InvalidField("entered_by", "required");
  const std::string src = source.empty() ? "manual" : source;
  if (request_id.size() > 200) return InvalidField("request_id", "at most 200 bytes");

  AW_ASSIGN_OR_RETURN(auto before, p_.store->ReadVersions({unit->id}, {indicator->id}, period.type(),
                                                          period.first_day(), period.first_day(), false));
  // A retried request (same request id) is answered by the batch path.
  if (request_id.empty()) {
    AW_RETURN_IF_ERROR(CheckSingleWrite(KeyText(key, period), before.empty() ? 0 : before.front().version,
                                        must_exist, expected_version));
  }
  v1::ReadingBatch batch;
  batch.set_batch_id(request_id.empty() ? "unary-" + RandomId() : "request-" + request_id);
  batch.set_source(src);
  batch.set_all_or_nothing(true);
  v1::ReadingInput* row = batch.add_rows();
  row->set_unit_code(key.unit_code());
  row->set_indicator_code(key.indicator_code());
  ToProto(period, row->mutable_period());
  row->set_value(value);
  row->set_entered_by(entered_by);
  row->set_reason(reason);
  AW_ASSIGN_OR_RETURN(const v1::BatchResult result, p_.store->IngestBatch(batch));
  if (!result.errors().empty()) return RowStatus(result.errors(0));
  if (!result.duplicate()) p_.metrics->CountRows(src, result);
  AW_ASSIGN_OR_RETURN(auto history, p_.store->ReadVersions({unit->id}, {indicator->id}, period.type(),
                                                           period.first_day(), period.first_day(), true));
  for (const StoredReading& r : history) {
    if (r.seq == result.last_seq()) {
      ToProto(*catalogue, r, out);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("the written reading is not readable");
}

grpc::ServerUnaryReactor* IngestServiceImpl::SubmitReading(Ctx* ctx, const v1::SubmitReadingRequest* req,
                                                           v1::Reading* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    // Who entered it is the caller the gateway vouches for, when there is one.
    AW_ASSIGN_OR_RETURN(const std::string entered_by, ActorOf(*ctx, req->entered_by()));
    return WriteOne(req->key(), req->value(), entered_by, req->source(), req->reason(), req->request_id(), 0, false,
                    resp);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::CorrectReading(Ctx* ctx, const v1::CorrectReadingRequest* req,
                                                            v1::Reading* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (req->reason().empty()) return InvalidField("reason", "a correction needs a reason");
    AW_ASSIGN_OR_RETURN(const std::string entered_by, ActorOf(*ctx, req->entered_by()));
    return WriteOne(req->key(), req->value(), entered_by, req->source(), req->reason(), req->request_id(),
                    req->expected_version(), true, resp);
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetReading(Ctx* ctx, const v1::GetReadingRequest* req,
                                                        v1::Reading* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    const v1::ReadingKey& key = req->key();
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "key.unit_code", key.unit_code()));
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* indicator,
                        FindIndicator(*catalogue, "key.indicator_code", key.indicator_code()));
    AW_ASSIGN_OR_RETURN(const Period period, FromProto(key.period(), "key.period"));
    AW_ASSIGN_OR_RETURN(auto current, p_.store->ReadVersions({unit->id}, {indicator->id}, period.type(),
                                                             period.first_day(), period.first_day(), false));
    if (!current.empty()) {
      ToProto(*catalogue, current.front(), resp);
      return absl::OkStatus();
    }
    const std::string what = KeyText(key, period);
    if (!req->allow_derived()) return absl::NotFoundError(absl::StrCat("no value reported for ", what));
    const v1::Indicator* def = indicator->InYear(static_cast<int>(period.first_day().year()));
    if (def == nullptr) return absl::NotFoundError(absl::StrCat("indicator ", indicator->code, " not defined then"));
    if (def->rollup() == v1::ROLLUP_RULE_NONE) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no value reported for ", what, ", and indicator ", indicator->code,
          " is never rolled up (roll-up rule NONE: a rate must be reported for each period)"));
    }
    AW_ASSIGN_OR_RETURN(const auto children, ReadShorter({unit->id}, {indicator->id}, ChildTypes(*def, period.type()),
                                                         period.first_day(), period.last_day()));
    ReadingIndex values;
    for (const StoredReading& r : children) values.Add(&r);
    std::string why;
    auto derived = Derive(*def, *unit, *indicator, period, values, &why);
    if (!derived) {
      return absl::NotFoundError(absl::StrCat("no value reported for ", what, " and none can be rolled up: ",
                                              why.empty() ? "no shorter period type is allowed" : why));
    }
    *resp = *std::move(derived);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetReadingHistory(Ctx* ctx, const v1::ReadingKey* key,
                                                               v1::ReadingHistory* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const UnitInfo* unit, FindUnit(*catalogue, "unit_code", key->unit_code()));
    AW_ASSIGN_OR_RETURN(const IndicatorInfo* indicator,
                        FindIndicator(*catalogue, "indicator_code", key->indicator_code()));
    AW_ASSIGN_OR_RETURN(const Period period, FromProto(key->period(), "period"));
    AW_ASSIGN_OR_RETURN(auto history, p_.store->ReadVersions({unit->id}, {indicator->id}, period.type(),
                                                             period.first_day(), period.first_day(), true));
    if (history.empty()) return absl::NotFoundError("no value has been reported for this key");
    for (const StoredReading& r : history) ToProto(*catalogue, r, resp->add_versions());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::QueryReadings(Ctx* ctx, const v1::QueryReadingsRequest* req,
                                                           v1::QueryReadingsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(const ReadingQuery q, PlanQuery(*catalogue, *req));
    const PeriodType type = q.first.type();
    const absl::CivilDay from = q.first.first_day(), to = q.last.first_day();
    // The readings after the page's key, in key order; one more than a page
    // tells whether another page follows.
    std::vector<std::pair<std::vector<int64_t>, v1::Reading>> items;
    int64_t total = page.total;
    if (!req->include_derived()) {
      AW_ASSIGN_OR_RETURN(auto rows, p_.store->ReadVersionsAfter(IdsOf(q.units), q.indicator_ids, type, from, to,
                                                                 req->include_history(), page.after, page.size + 1));
      for (const StoredReading& r : rows) ToProto(*catalogue, r, &items.emplace_back(SortKey(r), v1::Reading()).second);
      if (page.first()) {
        AW_ASSIGN_OR_RETURN(total, p_.store->CountVersions(IdsOf(q.units), q.indicator_ids, type, from, to,
                                                           req->include_history()));
      }
    } else {
      // Reported and derived values of a slice of units at a time; the first
      // page takes every unit, to count them all.
      auto collect = [&](const std::vector<const UnitInfo*>& units) -> absl::Status {
        const std::vector<int> ids = IdsOf(units);
        AW_ASSIGN_OR_RETURN(auto reported,
                            p_.store->ReadVersions(ids, q.indicator_ids, type, from, to, req->include_history()));
        AW_ASSIGN_OR_RETURN(const auto children,
                            ReadShorter(ids, q.indicator_ids, NestedTypes(type), from, q.last.last_day()));
        auto derived = DeriveMissing(q, units, reported, children);
        for (const StoredReading& r : reported) {
          ToProto(*catalogue, r, &items.emplace_back(SortKey(r), v1::Reading()).second);
        }
        for (auto& d : derived) items.push_back(std::move(d));
        return absl::OkStatus();
      };
      size_t next = 0;
      if (!page.after.empty()) {
        next = std::lower_bound(q.units.begin(), q.units.end(), page.after_id(),
                                [](const UnitInfo* u, int64_t id) { return u->id < id; }) -
               q.units.begin();
      }
      int slice = page.first() ? -1 : 8;
      while (next < q.units.size()) {
        const auto units = UnitSlice(q, next, slice);
        AW_RETURN_IF_ERROR(collect(units));
        next += units.size();
        std::erase_if(items, [&](const auto& item) { return !page.after.empty() && item.first <= page.after; });
        if (page.first() || static_cast<int>(items.size()) > page.size) break;
        slice *= 2;
      }
      std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      if (page.first()) total = static_cast<int64_t>(items.size());
    }
    FinishKeysetPage(page, items, [](const auto& item) { return item.first; }, total, resp->mutable_page());
    for (auto& [key, reading] : items) *resp->add_readings() = std::move(reading);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::GetCompleteness(Ctx* ctx, const v1::GetCompletenessRequest* req,
                                                             v1::GetCompletenessResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    CompletenessQuery q;
    AW_ASSIGN_OR_RETURN(q.period, FromProto(req->period(), "period"));
    q.as_of = req->has_as_of() ? absl::FromUnixSeconds(req->as_of().seconds()) : p_.clock->Now();
    AW_ASSIGN_OR_RETURN(auto catalogue, p_.store->GetCatalogue());
    AW_ASSIGN_OR_RETURN(auto scoped, ScopeUnits(*catalogue, req->scope(), q.period.last_day(), true));
    for (int i = 0; i < req->indicator_codes_size(); ++i) {
      if (catalogue->FindIndicator(req->indicator_codes(i)) == nullptr) {
        return InvalidField(absl::StrCat("indicator_codes[", i, "]"),
                            absl::StrCat("no indicator ", req->indicator_codes(i)));
      }
      q.indicator_codes.push_back(req->indicator_codes(i));
    }
    for (const UnitInfo* u : scoped) {
      if (u->ActiveDuring(q.period.first_day(), q.period.last_day())) q.units.push_back(u);
    }
    const std::vector<Due> due = DueIndicators(*catalogue, q);
    std::vector<int> unit_ids = IdsOf(q.units), indicator_ids;  // all indicators when no filter was given
    if (!q.indicator_codes.empty()) {
      for (const Due& d : due) indicator_ids.push_back(d.info->id);
    }
    if (due.empty()) unit_ids.clear();  // nothing is owed: no need to read
    AW_ASSIGN_OR_RETURN(auto rows, p_.store->ReadVersions(unit_ids, indicator_ids, q.period.type(),
                                                          q.period.first_day(), q.period.first_day(), false));
    absl::flat_hash_set<std::pair<int, int>> reported;
    for (const StoredReading& r : rows) reported.insert({r.unit_id, r.indicator_id});
    const int64_t missing = FillCompleteness(
        q, due, [&](int unit, int indicator) { return reported.contains({unit, indicator}); }, page.offset,
        page.size, resp);
    FillPageResponse(page, missing, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::WatchReadingsResponse>* IngestServiceImpl::WatchReadings(
    Ctx* ctx, const v1::WatchReadingsRequest* req) {
  if (grpc::Status s = CheckIdentity(*ctx); !s.ok()) return new FailedWriteReactor<v1::WatchReadingsResponse>(s);
  if (req->from_seq() < 0) {
    return new FailedWriteReactor<v1::WatchReadingsResponse>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "from_seq: must not be negative"));
  }
  return p_.feed->Subscribe(NewReadingsReader(p_.store, *req), req->from_seq());
}

// --- Scheduled pulls ----------------------------------------------------------------

grpc::ServerUnaryReactor* IngestServiceImpl::ListDataSources(Ctx* ctx, const v1::ListDataSourcesRequest*,
                                                             v1::ListDataSourcesResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this] {
    for (auto& ds : p_.puller->DataSources()) *resp->add_sources() = std::move(ds);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::UpsertPullBinding(Ctx* ctx, const v1::UpsertPullBindingRequest* req,
                                                               v1::PullBinding* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(*resp, p_.puller->Upsert(*req));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListPullBindings(Ctx* ctx, const v1::ListPullBindingsRequest* req,
                                                              v1::ListPullBindingsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::vector<v1::PullBinding> bindings;
    int64_t total = 0;
    AW_RETURN_IF_ERROR(p_.store->ListPullBindings(page.offset, page.size, &bindings, &total));
    for (auto& b : bindings) *resp->add_bindings() = std::move(b);
    FillPageResponse(page, total, resp->mutable_page());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::RunPull(Ctx* ctx, const v1::RunPullRequest* req, v1::PullRun* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    if (req->period().key().empty()) return InvalidField("period.key", "required");
    AW_ASSIGN_OR_RETURN(*resp, p_.puller->RunNow(req->binding(), req->period().key(), req->actor()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IngestServiceImpl::ListPullRuns(Ctx* ctx, const v1::ListPullRunsRequest* req,
                                                          v1::ListPullRunsResponse* resp) {
  return FinishOnWorker(ctx, *p_.workers, [=, this]() -> absl::Status {
    AW_ASSIGN_OR_RETURN(const Page page, ParsePage(req->page(), *req));
    std::vector<v1::PullRun> runs;
    int64_t total = page.total;
    AW_RETURN_IF_ERROR(
        p_.store->ListPullRuns(req->binding(), page.after_id(), page.size + 1, page.first(), &runs, &total));
    FinishKeysetPage(page, runs, [](const v1::PullRun& r) { return std::vector<int64_t>{r.id()}; }, total,
                     resp->mutable_page());
    for (auto& r : runs) *resp->add_runs() = std::move(r);
    return absl::OkStatus();
  });
}

}  // namespace aw::ingest
