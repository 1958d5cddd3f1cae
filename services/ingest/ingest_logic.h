// Ingest rules with no I/O, tested without a server or a database: checks of
// requests, the unit hierarchy and unit changes, indicator definitions, row
// validation with stable rejection codes, the version rules of single writes,
// roll-ups of readings to longer periods, query plans and their sort keys,
// completeness, pull schedules and bindings, and the feed's sequence numbers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.pb.h"
#include "common/period.h"
#include "common/rollup.h"
#include "services/ingest/catalogue.h"

namespace aw::ingest {

namespace v1 = ::auditwatch::v1;

// --- Feed sequence numbers ----------------------------------------------------
// A reading's feed sequence is its batch's commit_seq shifted left, plus its index
// in the batch: increasing in commit order, not dense.
constexpr int kSeqIndexBits = 20;
constexpr int kMaxBatchRows = 100000;
constexpr int64_t FeedSeq(int64_t commit_seq, int index) {
  return (commit_seq << kSeqIndexBits) | index;
}
constexpr int64_t CommitSeqOf(int64_t seq) { return seq >> kSeqIndexBits; }
constexpr int IndexOf(int64_t seq) { return static_cast<int>(seq & ((1 << kSeqIndexBits) - 1)); }

// --- Checks of requests ------------------------------------------------------

// A code of a unit or indicator: 1–64 letters, digits, '_', '-' or '.'.
absl::Status CheckCode(const std::string& field, const std::string& code);
// Free text of at most `max` bytes, required or not.
absl::Status CheckText(const std::string& field, const std::string& text, bool required, size_t max = 200);
// An ISO date ("2026-07-01"), or `today` when `text` is empty.
absl::StatusOr<absl::CivilDay> DateOrToday(const std::string& field, const std::string& text,
                                           absl::CivilDay today);
// The unit or indicator a request names: INVALID_ARGUMENT when the code is
// empty, NOT_FOUND naming the field when there is none.
absl::StatusOr<const UnitInfo*> FindUnit(const Catalogue& catalogue, const std::string& field,
                                         const std::string& code);
absl::StatusOr<const IndicatorInfo*> FindIndicator(const Catalogue& catalogue, const std::string& field,
                                                   const std::string& code);
// The units a scope covers as of `day`, in tree order (every unit when the
// scope names none).
absl::StatusOr<std::vector<const UnitInfo*>> ScopeUnits(const Catalogue& catalogue, const v1::UnitScope& scope,
                                                        absl::CivilDay day, bool include_inactive);

// --- Unit hierarchy and changes ---------------------------------------------

// OK when a unit of `child` type may sit under a unit of `parent` type
// (UNIT_TYPE_UNSPECIFIED parent = the root).
absl::Status CheckParentType(v1::UnitType child, v1::UnitType parent);

// A change to a unit, as the three RPCs ask for it.
struct UnitChange {
  enum Kind { kRename, kMove, kDeactivate } kind;
  std::string code;
  std::string new_name;         // kRename
  std::string new_parent_code;  // kMove
  std::string effective_from;   // ISO date; today when empty
  std::string actor;
  std::string reason;
  int64_t expected_version = 0;
};

// Checks the fields of a new unit and of a change, before any lookup.
absl::Status CheckNewUnitFields(const v1::CreateUnitRequest& request);
absl::Status CheckChangeFields(const UnitChange& change);
// Where a new unit goes: the id of its parent (0 for the root), once the
// code is free and the parent is active on `effective` and of a fitting type.
absl::StatusOr<int> PlaceNewUnit(const Catalogue& catalogue, const v1::CreateUnitRequest& request,
                                 absl::CivilDay effective);
// The version a change makes of `unit`'s latest, effective on `effective`;
// refused when stale, before the latest version, of a deactivated unit, a
// move under its own subtree or a deactivation of a unit with active children.
absl::StatusOr<UnitVersion> NextUnitVersion(const Catalogue& catalogue, const UnitInfo& unit,
                                            const UnitChange& change, absl::CivilDay effective);

// --- Indicator definitions ----------------------------------------------------

// INVALID_ARGUMENT naming the field when a definition cannot be used.
absl::Status ValidateIndicator(const v1::Indicator& indicator);
// True when two definitions say the same, whatever their audit records say:
// saving a definition unchanged changes nothing.
bool SameDefinition(const v1::Indicator& a, const v1::Indicator& b);

// --- Reading rows ---------------------------------------------------------------

// Stable rejection codes of RowError.code.
inline constexpr char kMissingField[] = "MISSING_FIELD";
inline constexpr char kInvalidPeriod[] = "INVALID_PERIOD";
inline constexpr char kUnknownUnit[] = "UNKNOWN_UNIT";
inline constexpr char kUnitInactive[] = "UNIT_INACTIVE";
inline constexpr char kUnknownIndicator[] = "UNKNOWN_INDICATOR";
inline constexpr char kIndicatorDisabled[] = "INDICATOR_DISABLED";
inline constexpr char kPeriodTypeNotAllowed[] = "PERIOD_TYPE_NOT_ALLOWED";
inline constexpr char kUnitTypeNotApplicable[] = "UNIT_TYPE_NOT_APPLICABLE";
inline constexpr char kNotFinite[] = "NOT_FINITE";
inline constexpr char kOutOfRange[] = "OUT_OF_RANGE";
inline constexpr char kDuplicateInBatch[] = "DUPLICATE_IN_BATCH";
inline constexpr char kFuturePeriod[] = "FUTURE_PERIOD";
inline constexpr char kTooLong[] = "TOO_LONG";

// A row's rejection: its index in the batch, a code above, the field, why.
v1::RowError Reject(int index, const char* code, std::string field, std::string message);

struct ValidRow {
  int index = 0;
  int unit_id = 0;
  int indicator_id = 0;
  Period period;
  double value = 0;
  std::string entered_by;
  std::string reason;
};

struct Validation {
  std::vector<ValidRow> rows;
  std::vector<v1::RowError> errors;
};

struct ValidationOptions {
  absl::CivilDay today;
  // A period may start at most this many days after today.
  int max_future_days = 0;
};

// Checks every row against the catalogue; each bad row gets one RowError (the
// first problem found) and the good rows are kept in order.
Validation ValidateRows(const Catalogue& catalogue,
                        const google::protobuf::RepeatedPtrField<v1::ReadingInput>& rows,
                        const ValidationOptions& options);

// Parses a proto Period (key required; type, when set, must match).
absl::StatusOr<Period> FromProto(const v1::Period& period, const std::string& field);
void ToProto(const Period& period, v1::Period* out);
v1::PeriodType ToProtoType(PeriodType type);

// --- Stored readings and single writes ----------------------------------------

// One stored reading version.
struct StoredReading {
  int unit_id = 0;
  int indicator_id = 0;
  Period period;
  double value = 0;
  int64_t seq = 0;
  std::string entered_by;
  std::string reason;
  std::string source;
  absl::Time recorded_at;
  int version = 0;
  bool current = false;
};

// Fills a Reading message; codes come from the catalogue.
void ToProto(const Catalogue& catalogue, const StoredReading& r, v1::Reading* out);

// The version rule of SubmitReading (must_exist = false: the key has no value
// yet) and CorrectReading (must_exist: it has one, and `expected_version`, when
// not 0, is the current one). `what` names the key in messages.
absl::Status CheckSingleWrite(const std::string& what, int current_version, bool must_exist,
                              int expected_version);
// The status of a single-row write whose row was rejected.
absl::Status RowStatus(const v1::RowError& error);

// --- Roll-ups of readings -------------------------------------------------------

// Shorter period types an indicator could be rolled up from, longest first.
std::vector<PeriodType> ChildTypes(const v1::Indicator& definition, PeriodType target);

// Current values of shorter periods, by key, from which longer ones are rolled up.
class ReadingIndex {
 public:
  void Add(const StoredReading* reading);
  const StoredReading* Find(int unit_id, int indicator_id, const Period& period) const;

 private:
  using Key = std::tuple<int, int, int, int64_t>;  // unit, indicator, period type, first day
  absl::flat_hash_map<Key, const StoredReading*> by_key_;
};

// Rolls `period` up by the definition's rule from the values in `values` when
// every shorter period of one allowed type is there, marked derived with its
// sources; std::nullopt otherwise, with `why` (when given) saying what is missing.
std::optional<v1::Reading> Derive(const v1::Indicator& definition, const UnitInfo& unit,
                                  const IndicatorInfo& indicator, const Period& period,
                                  const ReadingIndex& values, std::string* why);

// --- Queries ----------------------------------------------------------------------

// The most keys (unit × indicator × period) a query with include_derived may
// cover, and the most periods any query may span.
constexpr int64_t kMaxDerivedKeys = 200000;
constexpr int kMaxPeriodsPerQuery = 400;

// What a QueryReadings request asks for, checked against the catalogue.
struct ReadingQuery {
  Period first, last;
  std::vector<Period> periods;
  std::vector<const UnitInfo*> units;            // in ascending id order
  std::vector<const IndicatorInfo*> indicators;  // all when the request names none
  std::vector<int> indicator_ids;                // empty = all
};
absl::StatusOr<ReadingQuery> PlanQuery(const Catalogue& catalogue, const v1::QueryReadingsRequest& request);

// Readings are listed by (unit id, indicator id, period, version) — a reading
// derived by roll-up has version 0 — and paged by that key.
std::vector<int64_t> SortKey(const StoredReading& reading);
std::vector<int64_t> SortKey(int unit_id, int indicator_id, const Period& period, int version);

// The derived readings of `units` (a slice of a query's units) for the keys of
// the query that have no reported value, from `children` (the current values
// of shorter periods), with their sort keys.
std::vector<std::pair<std::vector<int64_t>, v1::Reading>> DeriveMissing(
    const ReadingQuery& query, const std::vector<const UnitInfo*>& units,
    const std::vector<StoredReading>& reported, const std::vector<StoredReading>& children);

// --- Completeness ---------------------------------------------------------------

// What GetCompleteness needs besides the reported values: the period, the
// units active in it (in tree order), the indicator filter and the time the
// deadlines are judged at.
struct CompletenessQuery {
  Period period;
  std::vector<const UnitInfo*> units;
  std::vector<std::string> indicator_codes;  // empty = all
  absl::Time as_of;
};
// An indicator owing a value of the period: its definition and deadline.
struct Due {
  const IndicatorInfo* info;
  const v1::Indicator* definition;
  absl::Time deadline;
};
// The indicators owing a value of the period by `as_of`, worked out once for
// every unit.
std::vector<Due> DueIndicators(const Catalogue& catalogue, const CompletenessQuery& query);
// Fills the per-unit rates and the page [offset, offset + size) of missing
// values; returns how many are missing in all. `reported(unit_id,
// indicator_id)` says whether a value is there.
int64_t FillCompleteness(const CompletenessQuery& query, const std::vector<Due>& due,
                         const std::function<bool(int, int)>& reported, int64_t offset, int size,
                         v1::GetCompletenessResponse* out);

// --- Scheduled pulls ---------------------------------------------------------

// When a pull of `period` is due: `run_day_offset` days after the period's last
// day, at `time_of_day` (UTC).
absl::Time PullDueTime(const Period& period, int run_day_offset, absl::Duration time_of_day);
// The first period a new binding pulls: the latest period already over at `now`.
Period FirstPullPeriod(PeriodType type, absl::Time now);
// Parses "HH:MM".
absl::StatusOr<absl::Duration> ParseTimeOfDay(const std::string& text);
// The highest $N parameter a query refers to (PostgreSQL wants exactly as many).
int MaxQueryParameter(const std::string& query);
// Checks a binding against the configured data sources and the catalogue;
// INVALID_ARGUMENT or NOT_FOUND naming the field. Fills the binding's query
// trimmed, its run time ("02:00" by default) and the time of day it stands for.
absl::Status CheckPullBinding(const Catalogue& catalogue, const std::vector<std::string>& data_sources,
                              v1::PullBinding* binding, absl::Duration* time_of_day);
// The parameters of a pull of `period`: its key, first and last day, as many
// as the query refers to.
std::vector<std::string> PullParameters(const std::string& query, const Period& period);

}  // namespace aw::ingest
