// Ingest rules with no I/O: the in-memory catalogue (org unit tree and indicator
// definitions, as of any date), row validation with stable rejection codes, the
// unit hierarchy, roll-ups, pull schedules and the feed's sequence numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.pb.h"
#include "common/period.h"
#include "common/rollup.h"

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

// --- Catalogue -------------------------------------------------------------------

struct UnitVersion {
  int revision = 0;
  absl::CivilDay valid_from;
  std::optional<absl::CivilDay> valid_to;  // exclusive
  std::string name;
  int parent_id = 0;  // 0 = root
  bool active = true;
  std::string change;
  std::string actor;
  std::string reason;
  absl::Time recorded_at;

  bool InForce(absl::CivilDay day) const {
    return valid_from <= day && (!valid_to || *valid_to > day);
  }
};

struct UnitInfo {
  int id = 0;
  std::string code;
  v1::UnitType type = v1::UNIT_TYPE_UNSPECIFIED;
  std::vector<UnitVersion> versions;  // by revision

  const UnitVersion* AsOf(absl::CivilDay day) const;
  const UnitVersion& latest() const { return versions.back(); }
  // True when an active version is in force on some day of [first, last].
  bool ActiveDuring(absl::CivilDay first, absl::CivilDay last) const;
};

struct IndicatorInfo {
  int id = 0;
  std::string code;
  // Latest revision of each effective year, by effective year.
  std::vector<v1::Indicator> versions;

  // The definition in force in `year`; nullptr before the first version.
  const v1::Indicator* InYear(int year) const;
};

// An immutable snapshot of units and indicators. Thread-compatible: share it as
// shared_ptr<const Catalogue>.
class Catalogue {
 public:
  int64_t version = 0;

  void AddUnit(UnitInfo unit);
  void AddIndicator(IndicatorInfo indicator);
  // Builds the child index; call once after adding everything.
  void Finish();

  const UnitInfo* FindUnit(const std::string& code) const;
  const UnitInfo* UnitById(int id) const;
  const IndicatorInfo* FindIndicator(const std::string& code) const;
  const IndicatorInfo* IndicatorById(int id) const;
  const std::vector<IndicatorInfo>& indicators() const { return indicators_; }
  const std::vector<UnitInfo>& units() const { return units_; }

  // Codes from the root to `unit` as of `day`; empty when not in force then.
  std::vector<const UnitInfo*> PathAsOf(const UnitInfo& unit, absl::CivilDay day) const;
  // `root` and every unit under it as of `day`, in depth-first order with
  // children by code. Inactive units are included only when asked.
  std::vector<const UnitInfo*> SubtreeAsOf(const UnitInfo* root, absl::CivilDay day,
                                           bool include_inactive) const;
  // Every unit whose version in force on `day` is rooted (the tree's roots).
  std::vector<const UnitInfo*> RootsAsOf(absl::CivilDay day) const;

  // Fills a Unit message with the version in force on `day`.
  bool ToProto(const UnitInfo& unit, absl::CivilDay day, v1::Unit* out) const;
  // Fills a Unit message from one version (for history).
  void VersionToProto(const UnitInfo& unit, const UnitVersion& version, v1::Unit* out) const;

 private:
  std::vector<UnitInfo> units_;
  std::vector<IndicatorInfo> indicators_;
  absl::flat_hash_map<std::string, int> unit_by_code_;
  absl::flat_hash_map<int, int> unit_by_id_;
  absl::flat_hash_map<std::string, int> indicator_by_code_;
  absl::flat_hash_map<int, int> indicator_by_id_;
  // Every unit that ever had `parent_id` as parent in some version.
  absl::flat_hash_map<int, std::vector<int>> ever_children_;
};

// --- Unit hierarchy ------------------------------------------------------------

// OK when a unit of `child` type may sit under a unit of `parent` type
// (UNIT_TYPE_UNSPECIFIED parent = the root).
absl::Status CheckParentType(v1::UnitType child, v1::UnitType parent);

// --- Indicator definitions ----------------------------------------------------

// INVALID_ARGUMENT naming the field when a definition cannot be used.
absl::Status ValidateIndicator(const v1::Indicator& indicator);

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

// --- Scheduled pulls ---------------------------------------------------------

// When a pull of `period` is due: `run_day_offset` days after the period's last
// day, at `time_of_day` (UTC).
absl::Time PullDueTime(const Period& period, int run_day_offset, absl::Duration time_of_day);
// The first period a new binding pulls: the latest period already over at `now`.
Period FirstPullPeriod(PeriodType type, absl::Time now);
// Parses "HH:MM".
absl::StatusOr<absl::Duration> ParseTimeOfDay(const std::string& text);

absl::CivilDay CivilDayOf(absl::Time t);

}  // namespace aw::ingest
