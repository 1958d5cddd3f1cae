// The in-memory catalogue of ingest: the org unit tree with every version of
// every unit (so that it answers "as of" any date) and the indicator
// definitions by effective year. An immutable snapshot, loaded by the store and
// shared read-only; no I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.pb.h"

namespace aw::ingest {

namespace v1 = ::auditwatch::v1;

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

}  // namespace aw::ingest
