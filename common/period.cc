#include "common/period.h"

#include <array>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aw {
namespace {

constexpr std::array<absl::string_view, 7> kTypeNames = {
    "", "day", "week", "month", "quarter", "half_year", "year"};

// Months per period for the month-aligned types; 0 for day and week.
int MonthsPer(PeriodType type) {
  switch (type) {
    case PeriodType::kMonth: return 1;
    case PeriodType::kQuarter: return 3;
    case PeriodType::kHalfYear: return 6;
    case PeriodType::kYear: return 12;
    default: return 0;
  }
}

// Monday of ISO week 1 of ISO year `year`.
absl::CivilDay IsoWeekOneMonday(int64_t year) {
  const absl::CivilDay jan4(year, 1, 4);
  const int offset = (static_cast<int>(absl::GetWeekday(jan4)) + 7 -
                      static_cast<int>(absl::Weekday::monday)) % 7;
  return jan4 - offset;
}

absl::CivilDay MondayOf(absl::CivilDay day) {
  const int offset = (static_cast<int>(absl::GetWeekday(day)) + 7 -
                      static_cast<int>(absl::Weekday::monday)) % 7;
  return day - offset;
}

// ISO week-numbering year of the week starting on Monday `monday`.
int64_t IsoYear(absl::CivilDay monday) { return (monday + 3).year(); }

int IsoWeeksIn(int64_t year) {
  return static_cast<int>((IsoWeekOneMonday(year + 1) - IsoWeekOneMonday(year)) / 7);
}

// Parses exactly `width` decimal digits.
bool ParseDigits(absl::string_view s, size_t width, int& out) {
  if (s.size() != width) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc();
}

absl::Status BadKey(absl::string_view key, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("period key \"", key, "\": ", why));
}

constexpr int kMinYear = 1900;
constexpr int kMaxYear = 9999;

// A Monday, the origin of week ordinals.
const absl::CivilDay kFirstMonday(1970, 1, 5);

}  // namespace

absl::string_view PeriodTypeName(PeriodType type) {
  return kTypeNames[static_cast<int>(type)];
}

absl::StatusOr<PeriodType> ParsePeriodType(absl::string_view name) {
  for (int i = 1; i < static_cast<int>(kTypeNames.size()); ++i) {
    if (kTypeNames[i] == name) return static_cast<PeriodType>(i);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown period type \"", name, "\""));
}

bool Nests(PeriodType child, PeriodType parent) {
  if (child > parent) return false;
  if (child == parent || child == PeriodType::kDay) return true;
  if (child == PeriodType::kWeek || parent == PeriodType::kWeek) return false;
  return MonthsPer(parent) % MonthsPer(child) == 0;
}

const std::vector<PeriodType>& NestedTypes(PeriodType parent) {
  // Worked out once per type: roll-ups ask for every key they derive.
  static const auto* const kByType = [] {
    auto* by_type = new std::vector<std::vector<PeriodType>>(static_cast<int>(PeriodType::kYear) + 1);
    for (int p = static_cast<int>(PeriodType::kDay); p <= static_cast<int>(PeriodType::kYear); ++p) {
      for (int t = p - 1; t >= static_cast<int>(PeriodType::kDay); --t) {
        if (Nests(static_cast<PeriodType>(t), static_cast<PeriodType>(p))) {
          (*by_type)[p].push_back(static_cast<PeriodType>(t));
        }
      }
    }
    return by_type;
  }();
  return (*kByType)[static_cast<int>(parent)];
}

absl::StatusOr<Period> Period::Parse(absl::string_view key) {
  int year = 0;
  if (key.size() < 4 || !ParseDigits(key.substr(0, 4), 4, year)) {
    return BadKey(key, "must start with a four-digit year");
  }
  if (year < kMinYear || year > kMaxYear) return BadKey(key, "year out of range");
  const absl::string_view rest = key.substr(4);
  if (rest.empty()) return Period(PeriodType::kYear, absl::CivilDay(year, 1, 1));
  if (rest[0] != '-' || rest.size() < 2) {
    return BadKey(key, "expected YYYY, YYYY-MM, YYYY-MM-DD, YYYY-Www, YYYY-Qn or YYYY-Hn");
  }
  const absl::string_view body = rest.substr(1);
  int n = 0;
  switch (body[0]) {
    case 'W':
      if (!ParseDigits(body.substr(1), 2, n)) return BadKey(key, "week must be two digits");
      if (n < 1 || n > IsoWeeksIn(year)) {
        return BadKey(key, absl::StrCat("ISO year ", year, " has weeks 01..", IsoWeeksIn(year)));
      }
      return Period(PeriodType::kWeek, IsoWeekOneMonday(year) + 7 * (n - 1));
    case 'Q':
      if (!ParseDigits(body.substr(1), 1, n) || n < 1 || n > 4) {
        return BadKey(key, "quarter must be 1..4");
      }
      return Period(PeriodType::kQuarter, absl::CivilDay(year, 3 * (n - 1) + 1, 1));
    case 'H':
      if (!ParseDigits(body.substr(1), 1, n) || n < 1 || n > 2) {
        return BadKey(key, "half-year must be 1 or 2");
      }
      return Period(PeriodType::kHalfYear, absl::CivilDay(year, 6 * (n - 1) + 1, 1));
    default:
      break;
  }
  int month = 0;
  if (!ParseDigits(body.substr(0, std::min<size_t>(2, body.size())), 2, month) ||
      month < 1 || month > 12) {
    return BadKey(key, "month must be 01..12");
  }
  if (body.size() == 2) return Period(PeriodType::kMonth, absl::CivilDay(year, month, 1));
  int day = 0;
  if (body.size() != 5 || body[2] != '-' || !ParseDigits(body.substr(3), 2, day)) {
    return BadKey(key, "day must be YYYY-MM-DD");
  }
  const absl::CivilDay civil(year, month, day);
  if (civil.month() != month || civil.day() != day) return BadKey(key, "no such date");
  return Period(PeriodType::kDay, civil);
}

absl::StatusOr<Period> Period::Parse(PeriodType type, absl::string_view key) {
  auto period = Parse(key);
  if (!period.ok()) return period.status();
  if (period->type() != type) {
    return BadKey(key, absl::StrCat("is a ", PeriodTypeName(period->type()), ", expected a ",
                                    PeriodTypeName(type)));
  }
  return period;
}

Period Period::Containing(PeriodType type, absl::CivilDay day) {
  if (type == PeriodType::kDay) return Period(type, day);
  if (type == PeriodType::kWeek) return Period(type, MondayOf(day));
  const int months = MonthsPer(type);
  const int first_month = (day.month() - 1) / months * months + 1;
  return Period(type, absl::CivilDay(day.year(), first_month, 1));
}

absl::CivilDay Period::last_day() const { return Shift(1).first_ - 1; }

std::string Period::key() const {
  switch (type_) {
    case PeriodType::kDay:
      return absl::StrFormat("%04d-%02d-%02d", first_.year(), first_.month(), first_.day());
    case PeriodType::kWeek: {
      const int64_t iso_year = IsoYear(first_);
      const int week = static_cast<int>((first_ - IsoWeekOneMonday(iso_year)) / 7) + 1;
      return absl::StrFormat("%04d-W%02d", iso_year, week);
    }
    case PeriodType::kMonth:
      return absl::StrFormat("%04d-%02d", first_.year(), first_.month());
    case PeriodType::kQuarter:
      return absl::StrFormat("%04d-Q%d", first_.year(), (first_.month() - 1) / 3 + 1);
    case PeriodType::kHalfYear:
      return absl::StrFormat("%04d-H%d", first_.year(), (first_.month() - 1) / 6 + 1);
    case PeriodType::kYear:
      return absl::StrFormat("%04d", first_.year());
  }
  return {};
}

bool Period::Contains(const Period& other) const {
  return other.first_ >= first_ && other.last_day() <= last_day();
}

Period Period::Shift(int n) const {
  switch (type_) {
    case PeriodType::kDay: return Period(type_, first_ + n);
    case PeriodType::kWeek: return Period(type_, first_ + 7 * n);
    default: {
      const absl::CivilMonth month(first_);
      return Period(type_, absl::CivilDay(month + MonthsPer(type_) * n));
    }
  }
}

absl::StatusOr<Period> Period::RollUp(PeriodType parent) const {
  if (!Nests(type_, parent)) {
    return absl::InvalidArgumentError(absl::StrCat("a ", PeriodTypeName(type_),
                                                   " does not roll up into a ",
                                                   PeriodTypeName(parent)));
  }
  return Containing(parent, first_);
}

absl::StatusOr<std::vector<Period>> Period::Split(PeriodType child) const {
  if (!Nests(child, type_)) {
    return absl::InvalidArgumentError(absl::StrCat(PeriodTypeName(child),
                                                   "s do not tile a ", PeriodTypeName(type_)));
  }
  std::vector<Period> parts;
  for (Period p = Containing(child, first_); p.first_ <= last_day(); p = p.Next()) {
    parts.push_back(p);
  }
  return parts;
}

int64_t Period::Ordinal() const {
  switch (type_) {
    case PeriodType::kDay: return first_ - absl::CivilDay();
    case PeriodType::kWeek: return (first_ - kFirstMonday) / 7;
    case PeriodType::kMonth: return first_.year() * 12 + first_.month() - 1;
    case PeriodType::kQuarter: return first_.year() * 4 + (first_.month() - 1) / 3;
    case PeriodType::kHalfYear: return first_.year() * 2 + (first_.month() - 1) / 6;
    case PeriodType::kYear: return first_.year();
  }
  return 0;
}

Period Period::FromOrdinal(PeriodType type, int64_t ordinal) {
  switch (type) {
    case PeriodType::kDay: return Period(type, absl::CivilDay() + ordinal);
    case PeriodType::kWeek: return Period(type, kFirstMonday + ordinal * 7);
    case PeriodType::kMonth: return Period(type, absl::CivilDay(ordinal / 12, ordinal % 12 + 1, 1));
    case PeriodType::kQuarter: return Period(type, absl::CivilDay(ordinal / 4, ordinal % 4 * 3 + 1, 1));
    case PeriodType::kHalfYear: return Period(type, absl::CivilDay(ordinal / 2, ordinal % 2 * 6 + 1, 1));
    case PeriodType::kYear: return Period(type, absl::CivilDay(ordinal, 1, 1));
  }
  return Period();
}

absl::CivilDay CivilDayOf(absl::Time t) { return absl::ToCivilDay(t, absl::UTCTimeZone()); }

absl::Time SubmissionDeadline(const Period& period, int deadline_days) {
  return absl::FromCivil(period.last_day() + deadline_days + 1, absl::UTCTimeZone());
}

}  // namespace aw
