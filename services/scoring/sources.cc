#include "services/scoring/sources.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/call.h"

namespace aw::scoring {

absl::StatusOr<std::vector<UnitIn>> Sources::UnitsOn(absl::CivilDay day, const std::string& root) {
  v1::ListUnitsRequest req;
  req.set_as_of(absl::FormatCivilTime(day));
  if (!root.empty()) {
    req.mutable_scope()->set_unit_code(root);
    req.mutable_scope()->set_include_descendants(true);
  }
  std::vector<UnitIn> out;
  AW_RETURN_IF_ERROR(ForEachPage(
      *ingest_, &v1::IngestService::Stub::ListUnits, req, "ingest ListUnits",
      [&] { return CallContext(call_timeout_); },
      [&](const v1::ListUnitsResponse& page) -> absl::Status {
        for (const v1::Unit& u : page.units()) {
          if (u.active()) out.push_back(UnitIn{.code = u.code(), .parent = u.parent_code(), .type = u.type()});
        }
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<absl::flat_hash_map<std::string, v1::Indicator>> Sources::Indicators(int32_t year) {
  v1::ListIndicatorsRequest req;
  req.set_year(year);
  req.set_include_disabled(true);
  absl::flat_hash_map<std::string, v1::Indicator> out;
  AW_RETURN_IF_ERROR(ForEachPage(
      *ingest_, &v1::IngestService::Stub::ListIndicators, req, "ingest ListIndicators",
      [&] { return CallContext(call_timeout_); },
      [&](const v1::ListIndicatorsResponse& page) -> absl::Status {
        for (const v1::Indicator& i : page.indicators()) out[i.code()] = i;
        return absl::OkStatus();
      }));
  return out;
}

absl::StatusOr<std::vector<ReadingIn>> Sources::Readings(const Period& period, const std::vector<std::string>& codes,
                                                         const std::vector<UnitIn>& units, int64_t* max_seq) {
  std::vector<ReadingIn> out;
  *max_seq = 0;
  auto query = [&](v1::QueryReadingsRequest req) -> absl::Status {
    *req.mutable_periods()->mutable_first() = ProtoOf(period);
    *req.mutable_periods()->mutable_last() = ProtoOf(period);
    return ForEachPage(
        *ingest_, &v1::IngestService::Stub::QueryReadings, req, "ingest QueryReadings",
        [&] { return CallContext(call_timeout_); },
        [&](const v1::QueryReadingsResponse& page) -> absl::Status {
          for (const v1::Reading& r : page.readings()) {
            ReadingIn in{.unit = r.key().unit_code(), .indicator = r.key().indicator_code(), .value = r.value()};
            in.ref.set_seq(r.seq());
            in.ref.set_version(r.version());
            in.ref.set_derived(r.derived());
            in.ref.set_derived_by(r.derived_by());
            in.ref.set_derived_from(r.derived_from_size());
            *max_seq = std::max(*max_seq, r.seq());
            out.push_back(std::move(in));
          }
          return absl::OkStatus();
        });
  };
  // The reported values of the period, in one pass over the tree.
  v1::QueryReadingsRequest reported;
  for (const std::string& c : codes) reported.add_indicator_codes(c);
  AW_RETURN_IF_ERROR(query(reported));
  if (period.type() != PeriodType::kHalfYear && period.type() != PeriodType::kYear) return out;
  // A half-year or year is scored on its own values: reported, else rolled
  // up by the indicator's rule (never for rates, whose rule is NONE). Only
  // the units missing a value of a rolled-up indicator are asked again.
  AW_ASSIGN_OR_RETURN(const auto catalogue, Indicators(static_cast<int32_t>(period.first_day().year())));
  absl::flat_hash_set<std::pair<std::string, std::string>> have;
  for (const ReadingIn& r : out) have.insert({r.unit, r.indicator});
  absl::flat_hash_map<std::string, std::vector<std::string>> gaps;  // unit → rolled-up codes it lacks
  for (const std::string& c : codes) {
    auto it = catalogue.find(c);
    if (it == catalogue.end() || it->second.rollup() == v1::ROLLUP_RULE_NONE ||
        it->second.rollup() == v1::ROLLUP_RULE_UNSPECIFIED) {
      continue;
    }
    for (const UnitIn& u : units) {
      if (!have.contains({u.code, c})) gaps[u.code].push_back(c);
    }
  }
  for (const auto& [unit, missing] : gaps) {
    v1::QueryReadingsRequest derived;
    derived.mutable_scope()->set_unit_code(unit);
    for (const std::string& c : missing) derived.add_indicator_codes(c);
    derived.set_include_derived(true);
    const size_t before = out.size();
    AW_RETURN_IF_ERROR(query(derived));
    // Only the values that were missing (the reported ones are there already).
    std::erase_if(out, [&, i = size_t{0}](const ReadingIn& r) mutable {
      return i++ >= before && have.contains({r.unit, r.indicator});
    });
  }
  return out;
}

absl::StatusOr<std::vector<DeductionIn>> Sources::Deductions(const Period& period) {
  v1::ListDeductionsRequest req;
  *req.mutable_periods()->mutable_first() = ProtoOf(period);
  *req.mutable_periods()->mutable_last() = ProtoOf(period);
  req.set_effective_only(true);
  std::vector<DeductionIn> out;
  AW_RETURN_IF_ERROR(ForEachPage(
      *audit_, &v1::AuditService::Stub::ListDeductions, req, "audit ListDeductions",
      [&] { return CallContext(call_timeout_); },
      [&](const v1::ListDeductionsResponse& page) -> absl::Status {
        for (const v1::Deduction& d : page.deductions()) {
          out.push_back(DeductionIn{.id = d.id(),
                                    .unit = d.unit_code(),
                                    .type = d.type(),
                                    .points = d.points(),
                                    .work_order_id = d.work_order_id(),
                                    .incident_id = d.incident_id(),
                                    .standard_code = d.standard_code(),
                                    .period = d.period()});
        }
        return absl::OkStatus();
      }));
  return out;
}

}  // namespace aw::scoring
