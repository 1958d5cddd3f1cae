// Typed reporting periods: day, ISO week, month, quarter, half-year and year, with
// their canonical text keys ("2026-03-15", "2026-W09", "2026-03", "2026-Q1",
// "2026-H1", "2026"), containment, stepping and roll-up to longer periods.
#pragma once

#include <compare>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace aw {

// Numbered as auditwatch.v1.PeriodType, from the shortest to the longest.
enum class PeriodType { kDay = 1, kWeek = 2, kMonth = 3, kQuarter = 4, kHalfYear = 5, kYear = 6 };

absl::string_view PeriodTypeName(PeriodType type);  // "day", "week", …
absl::StatusOr<PeriodType> ParsePeriodType(absl::string_view name);

// A value type: one period of one type, identified by its first day. Periods of
// the same type order chronologically; periods of different types order by type
// first. Weeks follow ISO 8601 (Monday start; week 1 holds the year's first
// Thursday), so week keys use the ISO week-numbering year.
class Period {
 public:
  // 1970-01-01, a day; real periods come from Parse or Containing.
  Period() : Period(PeriodType::kDay, absl::CivilDay()) {}
  // Parses a canonical key; the type follows from its shape.
  static absl::StatusOr<Period> Parse(absl::string_view key);
  // Parses a key that must be of `type`.
  static absl::StatusOr<Period> Parse(PeriodType type, absl::string_view key);
  // The period of `type` that contains `day`.
  static Period Containing(PeriodType type, absl::CivilDay day);

  PeriodType type() const { return type_; }
  absl::CivilDay first_day() const { return first_; }
  absl::CivilDay last_day() const;
  int days() const { return static_cast<int>(last_day() - first_) + 1; }
  std::string key() const;

  bool Contains(absl::CivilDay day) const { return day >= first_ && day <= last_day(); }
  // True when every day of `other` lies in this period.
  bool Contains(const Period& other) const;

  Period Next() const { return Shift(1); }
  Period Previous() const { return Shift(-1); }
  Period Shift(int n) const;

  // The period's place among the periods of its type: consecutive periods
  // have consecutive ordinals, so looking back n periods is subtraction.
  int64_t Ordinal() const;
  static Period FromOrdinal(PeriodType type, int64_t ordinal);

  // The period of the longer type `parent` that contains this one.
  // INVALID_ARGUMENT when `parent` is shorter, or when periods of this type do
  // not nest in it (an ISO week straddles months and years).
  absl::StatusOr<Period> RollUp(PeriodType parent) const;
  // The periods of the shorter type `child` that make up this one, in order;
  // INVALID_ARGUMENT when they do not tile it exactly.
  absl::StatusOr<std::vector<Period>> Split(PeriodType child) const;

  friend bool operator==(const Period&, const Period&) = default;
  friend std::strong_ordering operator<=>(const Period& a, const Period& b) {
    if (auto c = a.type_ <=> b.type_; c != 0) return c;
    if (a.first_ < b.first_) return std::strong_ordering::less;
    return a.first_ == b.first_ ? std::strong_ordering::equal : std::strong_ordering::greater;
  }

 private:
  Period(PeriodType type, absl::CivilDay first) : type_(type), first_(first) {}

  PeriodType type_;
  absl::CivilDay first_;
};

// True when periods of type `child` tile periods of type `parent` exactly.
bool Nests(PeriodType child, PeriodType parent);
// The shorter types whose periods tile periods of type `parent` exactly,
// longest first: what a period of `parent` can be rolled up from.
const std::vector<PeriodType>& NestedTypes(PeriodType parent);

// The UTC calendar day of `t`. Periods, deadlines and "today" are UTC days.
absl::CivilDay CivilDayOf(absl::Time t);

// The moment (UTC) the values of `period` are due when they may be submitted
// up to `deadline_days` days after it ends: the start of the following day.
absl::Time SubmissionDeadline(const Period& period, int deadline_days);

// The latest period of `type` whose values are due at `now`, when `deadline`
// says when a period's values are due. `deadline` must grow with the period.
template <typename Deadline>
Period LatestDue(PeriodType type, absl::Time now, Deadline deadline) {
  Period p = Period::Containing(type, CivilDayOf(now));
  while (deadline(p) > now) p = p.Previous();
  return p;
}

}  // namespace aw
