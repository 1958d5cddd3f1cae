#include "services/scoring/triggers.h"

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/period.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "services/scoring/scoring_logic.h"

namespace aw::scoring {

Triggers::Triggers(ScoringStore* store, std::shared_ptr<grpc::Channel> ingest, std::shared_ptr<grpc::Channel> audit,
                   ScoringMetrics* metrics, Options options)
    : store_(store),
      ingest_(v1::IngestService::NewStub(std::move(ingest))),
      audit_(v1::AuditService::NewStub(std::move(audit))),
      metrics_(metrics),
      options_(options),
      readings_(
          [this](grpc::ClientContext* c, const v1::WatchReadingsRequest& r) {
            v1::WatchReadingsRequest request = r;
            request.set_values_only(true);
            return ingest_->WatchReadings(c, request);
          },
          [this] { return store_->Cursor(kReadingsFeed); },
          [this](const v1::WatchReadingsResponse& page) { return HandleReadings(page); },
          {.name = kReadingsFeed, .logger = "scoring", .clock = options.clock}),
      facts_([this](grpc::ClientContext* c,
                    const v1::WatchAuditFactsRequest& r) { return audit_->WatchAuditFacts(c, r); },
             [this] { return store_->Cursor(kAuditFeed); },
             [this](const v1::AuditFactChange& change) { return HandleFacts(change); },
             {.name = kAuditFeed, .logger = "scoring", .clock = options.clock}) {}

Triggers::~Triggers() { Stop(); }

void Triggers::Start() {
  readings_.Start();
  facts_.Start();
}

void Triggers::Stop() {
  readings_.Stop();
  facts_.Stop();
}

absl::Status Triggers::HandleReadings(const v1::WatchReadingsResponse& page) {
  std::vector<std::string> keys;
  absl::Time newest = absl::InfinitePast();
  // The codes each year's scheme scores, read once per page (a scheme saved
  // a moment ago counts at once).
  absl::flat_hash_map<int, absl::flat_hash_set<std::string>> scored;
  for (const v1::ReadingChange& c : page.changes()) {
    auto period = Period::Parse(c.reading().key().period().key());
    if (!period.ok()) continue;
    const int year = static_cast<int>(period->first_day().year());
    if (!scored.contains(year)) {
      auto scheme = store_->GetScheme(year, 0);
      if (!scheme.ok() && !absl::IsNotFound(scheme.status())) return scheme.status();
      auto& codes = scored[year];
      if (scheme.ok()) {
        for (const v1::SchemeItem& it : scheme->items()) codes.insert(it.indicator_code());
      }
    }
    if (scored[year].contains(c.reading().key().indicator_code())) {
      for (std::string& k : PeriodsAffectedBy(*period)) keys.push_back(std::move(k));
    }
    if (c.reading().has_recorded_at()) newest = std::max(newest, TimeOf(c.reading().recorded_at()));
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  const absl::Time now = options_.clock->Now();
  AW_RETURN_IF_ERROR(
      store_->MarkDirty(keys, v1::RUN_TRIGGER_LATE_DATA, now + options_.rerun_delay, kReadingsFeed, page.last_seq())
          .status());
  if (newest != absl::InfinitePast()) metrics_->Lag("readings", absl::ToDoubleSeconds(now - newest));
  return absl::OkStatus();
}

absl::Status Triggers::HandleFacts(const v1::AuditFactChange& change) {
  if (change.heartbeat() && change.seq() == 0) return absl::OkStatus();
  std::vector<std::string> keys;
  if (change.has_deduction()) {
    if (auto period = Period::Parse(change.deduction().period().key()); period.ok()) keys = PeriodsAffectedBy(*period);
  }
  const absl::Time now = options_.clock->Now();
  AW_RETURN_IF_ERROR(
      store_->MarkDirty(keys, v1::RUN_TRIGGER_DEDUCTION, now + options_.rerun_delay, kAuditFeed, change.seq())
          .status());
  if (change.has_committed_at()) metrics_->Lag("audit", absl::ToDoubleSeconds(now - TimeOf(change.committed_at())));
  return absl::OkStatus();
}

}  // namespace aw::scoring
