// A deterministic synthetic province for demos, tests and benchmarks: one
// province company, 21 city bureaus, ~120 district/county companies, ~1,500
// supply stations and the functional centres; ~60 indicators across the
// business categories; a year of monthly, half-year and annual values with
// spread, seasonality and a minority of deliberately weak units. The same seed
// gives the same province on every machine.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "auditwatch/v1/ingest.grpc.pb.h"

namespace aw::demo {

class SyntheticProvince {
 public:
  // With `yearly_noise`, the values' noise differs from year to year (the
  // units' quality, the tree and the catalogue do not): consecutive years of
  // one seed then look like one province over time, for forecasts judged
  // against the year before. Without it every year of a seed has the same
  // values (the default, which the demos and tests rely on).
  SyntheticProvince(uint64_t seed, int year, bool yearly_noise = false);

  int year() const { return year_; }

  // Parents before children; effective from January 1st of the year.
  const std::vector<auditwatch::v1::CreateUnitRequest>& units() const { return units_; }
  const std::vector<auditwatch::v1::Indicator>& indicators() const { return indicators_; }
  // Unit codes generated as weak performers.
  const std::vector<std::string>& weak_units() const { return weak_; }

  // Every reading of the year in batches of at most `batch_size` rows, unit by
  // unit (all indicators and periods of a unit together, as a reporting
  // system sends them). Stops early when `emit` returns false.
  void ForEachBatch(int batch_size, const std::function<bool(auditwatch::v1::ReadingBatch&)>& emit) const;
  int64_t reading_count() const;

  // How a typical supply station's monthly values of an indicator spread: the
  // basis of the demo warning rules.
  struct Profile {
    std::string code;
    double mean = 0, spread = 0;
  };
  std::vector<Profile> profiles() const;

 private:
  struct Spec;
  uint64_t seed_;
  int year_;
  bool yearly_noise_;
  std::vector<auditwatch::v1::CreateUnitRequest> units_;
  std::vector<auditwatch::v1::Indicator> indicators_;
  std::vector<double> unit_quality_;  // by unit index; negative = weaker
  std::vector<std::string> weak_;
};

// What loading a province's tree and catalogue did.
struct CatalogueLoad {
  int units_created = 0;
  int units_existing = 0;  // ALREADY_EXISTS: loading twice is not an error
  int indicators = 0;
  grpc::Status status;  // the first failure, naming the unit or indicator
};

// Creates the province's units (parents first) and upserts its indicators
// through the ingest API, as `actor`. Stops at the first failure.
CatalogueLoad LoadCatalogue(auditwatch::v1::IngestService::Stub& ingest, const SyntheticProvince& province,
                            const std::string& actor);

}  // namespace aw::demo
