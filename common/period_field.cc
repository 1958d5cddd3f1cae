#include "common/period_field.h"

#include "absl/strings/str_cat.h"

namespace aw {

absl::StatusOr<Period> RequiredPeriod(const auditwatch::v1::Period& period, const char* field) {
  if (period.key().empty()) return absl::InvalidArgumentError(absl::StrCat(field, ".key: required"));
  auto p = Period::Parse(period.key());
  if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ".key: ", p.status().message()));
  if (period.type() != auditwatch::v1::PERIOD_TYPE_UNSPECIFIED &&
      static_cast<int>(period.type()) != static_cast<int>(p->type())) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".type: does not agree with the key ", period.key()));
  }
  return p;
}

absl::StatusOr<std::vector<std::string>> PeriodKeys(const auditwatch::v1::PeriodRange& range, const char* field) {
  std::vector<std::string> out;
  if (range.first().key().empty() && range.last().key().empty()) return out;
  auto first = Period::Parse(range.first().key());
  if (!first.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ".first.key: ", first.status().message()));
  auto last = Period::Parse(range.last().key().empty() ? range.first().key() : range.last().key());
  if (!last.ok()) return absl::InvalidArgumentError(absl::StrCat(field, ".last.key: ", last.status().message()));
  if (first->type() != last->type()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": first and last are of different period types"));
  }
  if (*last < *first) return absl::InvalidArgumentError(absl::StrCat(field, ": last comes before first"));
  for (Period p = *first; p <= *last; p = p.Next()) {
    out.push_back(p.key());
    if (out.size() > 1000) return absl::InvalidArgumentError(absl::StrCat(field, ": at most 1000 periods"));
  }
  return out;
}

auditwatch::v1::Period ProtoOf(const Period& period) {
  auditwatch::v1::Period out;
  out.set_type(static_cast<auditwatch::v1::PeriodType>(period.type()));
  out.set_key(period.key());
  return out;
}

}  // namespace aw
