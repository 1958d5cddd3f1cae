// The ingest store against a real PostgreSQL: the unit tree with effective
// dates, indicator versions, batches (rejections, re-delivery, all-or-nothing),
// corrections, and the change feed including writers that commit out of order.
#include "services/ingest/ingest_store.h"

#include <thread>

#include <catch2/catch.hpp>

#include "absl/synchronization/notification.h"
#include "common/migrations.h"
#include "common/pg.h"
#include "tests/support/readings.h"
#include "tests/support/test_db.h"

namespace aw::ingest {
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

using aw::testing::TestDatabase;

// A migrated ingest schema with a store on top, like one replica.
struct Replica {
  explicit Replica(const TestDatabase& db)
      : pool(db::PoolOptions{.url = db.url(), .schema = "ingest", .size = 2}),
        store(&pool, IngestStore::Options{}) {
    REQUIRE(aw::testing::MigrateSchema(db.url(), "ingest", MigrationFiles()).ok());
  }
  db::Pool pool;
  IngestStore store;
};

v1::CreateUnitRequest NewUnit(std::string code, v1::UnitType type, std::string parent,
                              std::string from = "2026-01-01") {
  v1::CreateUnitRequest r;
  r.set_code(code);
  r.set_name("Unit " + code);
  r.set_type(type);
  r.set_parent_code(std::move(parent));
  r.set_effective_from(std::move(from));
  r.set_actor("tester");
  return r;
}

v1::UpsertIndicatorRequest NewIndicator(std::string code, v1::RollupRule rollup, int year = 2026) {
  v1::UpsertIndicatorRequest r;
  v1::Indicator* i = r.mutable_indicator();
  i->set_code(code);
  i->set_name_zh(code);
  i->set_category(v1::BUSINESS_CATEGORY_BILLING);
  i->set_kind(v1::INDICATOR_KIND_SYSTEM);
  i->set_direction(v1::DIRECTION_HIGHER_IS_BETTER);
  for (auto t : {v1::PERIOD_TYPE_MONTH, v1::PERIOD_TYPE_QUARTER, v1::PERIOD_TYPE_YEAR}) {
    i->add_allowed_period_types(t);
  }
  i->set_min_value(0);
  i->set_max_value(1000);
  i->set_rollup(rollup);
  i->set_unit_of_measure(rollup == v1::ROLLUP_RULE_NONE ? "%" : "kWh");
  i->set_enabled(true);
  i->set_effective_year(year);
  r.set_actor("tester");
  return r;
}

void SeedTree(IngestStore& store) {
  REQUIRE(store.CreateUnit(NewUnit("P", v1::UNIT_TYPE_PROVINCE, "")).ok());
  REQUIRE(store.CreateUnit(NewUnit("C1", v1::UNIT_TYPE_CITY_BUREAU, "P")).ok());
  REQUIRE(store.CreateUnit(NewUnit("C2", v1::UNIT_TYPE_CITY_BUREAU, "P")).ok());
  REQUIRE(store.CreateUnit(NewUnit("D1", v1::UNIT_TYPE_DISTRICT_BUREAU, "C1")).ok());
  REQUIRE(store.CreateUnit(NewUnit("D2", v1::UNIT_TYPE_COUNTY_COMPANY, "C2")).ok());
  REQUIRE(store.CreateUnit(NewUnit("S1", v1::UNIT_TYPE_SUPPLY_STATION, "D1")).ok());
  REQUIRE(store.UpsertIndicator(NewIndicator("RATE", v1::ROLLUP_RULE_NONE)).ok());
  REQUIRE(store.UpsertIndicator(NewIndicator("VOL", v1::ROLLUP_RULE_SUM)).ok());
}

v1::ReadingBatch Batch(const std::string& id, const std::vector<aw::testing::Row>& rows) {
  return aw::testing::MakeBatch(id, rows);
}

TEST_CASE("Units change with effective dates and old dates still see the old tree", "[ingest]") {
  TestDatabase db;
  Replica r(db);
  SeedTree(r.store);
  UnitChange move{UnitChange::kMove, "S1", "", "D2", "2026-07-01", "tester", "reorganisation"};
  auto moved = r.store.ChangeUnit(move);
  REQUIRE(moved.ok());
  CHECK(moved->parent_code() == "D2");
  CHECK(moved->path_size() == 4);
  CHECK(moved->path(1) == "C2");
  auto renamed = r.store.ChangeUnit({UnitChange::kRename, "S1", "New name", "", "2026-09-01", "tester", ""});
  REQUIRE(renamed.ok());

  auto c = *r.store.GetCatalogue();
  const UnitInfo* s1 = c->FindUnit("S1");
  v1::Unit jan, aug, oct;
  REQUIRE(c->ToProto(*s1, absl::CivilDay(2026, 1, 15), &jan));
  REQUIRE(c->ToProto(*s1, absl::CivilDay(2026, 8, 15), &aug));
  REQUIRE(c->ToProto(*s1, absl::CivilDay(2026, 10, 1), &oct));
  CHECK(jan.parent_code() == "D1");   // January is scored under the old parent
  CHECK(jan.path(1) == "C1");
  CHECK(aug.parent_code() == "D2");
  CHECK(aug.name() == "Unit S1");
  CHECK(oct.name() == "New name");
  CHECK(c->SubtreeAsOf(c->FindUnit("C1"), absl::CivilDay(2026, 3, 1), false).size() == 3);
  CHECK(c->SubtreeAsOf(c->FindUnit("C1"), absl::CivilDay(2026, 8, 1), false).size() == 2);
  CHECK(s1->versions.size() == 3);
  CHECK(s1->versions[1].reason == "reorganisation");
}

TEST_CASE("Unit changes that would break the tree are refused with a reason", "[ingest]") {
  TestDatabase db;
  Replica r(db);
  SeedTree(r.store);
  CHECK(r.store.CreateUnit(NewUnit("S1", v1::UNIT_TYPE_SUPPLY_STATION, "D1")).status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(r.store.CreateUnit(NewUnit("S9", v1::UNIT_TYPE_SUPPLY_STATION, "C1")).status().code() ==
        absl::StatusCode::kInvalidArgument);  // a station under a city
  CHECK(r.store.CreateUnit(NewUnit("S9", v1::UNIT_TYPE_SUPPLY_STATION, "ZZ")).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(r.store.CreateUnit(NewUnit("S9", v1::UNIT_TYPE_SUPPLY_STATION, "D1", "2025-01-01")).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // D1 did not exist yet
  const auto cycle = r.store.ChangeUnit({UnitChange::kMove, "C1", "", "D1", "2026-05-01", "tester", ""});
  CHECK(cycle.status().code() == absl::StatusCode::kFailedPrecondition);
  const auto busy = r.store.ChangeUnit({UnitChange::kDeactivate, "D1", "", "", "2026-05-01", "tester", ""});
  CHECK(busy.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(busy.status().message()).find("1 active unit") != std::string::npos);
  const auto stale = r.store.ChangeUnit({UnitChange::kRename, "S1", "X", "", "2026-05-01", "tester", "", 7});
  CHECK(stale.status().code() == absl::StatusCode::kAborted);
  REQUIRE(r.store.ChangeUnit({UnitChange::kRename, "S1", "X", "", "2026-05-01", "tester", ""}).ok());
  const auto backdated = r.store.ChangeUnit({UnitChange::kRename, "S1", "Y", "", "2026-04-01", "tester", ""});
  CHECK(backdated.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(r.store.ChangeUnit({UnitChange::kDeactivate, "S1", "", "", "2026-06-01", "tester", ""}).ok());
  REQUIRE(r.store.ChangeUnit({UnitChange::kDeactivate, "D1", "", "", "2026-06-01", "tester", ""}).ok());
}

TEST_CASE("Indicator definitions are versioned by effective year", "[ingest]") {
  TestDatabase db;
  Replica r(db);
  SeedTree(r.store);
  auto again = r.store.UpsertIndicator(NewIndicator("VOL", v1::ROLLUP_RULE_SUM));
  REQUIRE(again.ok());
  CHECK(again->audit().version() == 1);  // identical: no new revision
  auto next_year = NewIndicator("VOL", v1::ROLLUP_RULE_SUM, 2027);
  next_year.mutable_indicator()->set_max_value(5000);
  REQUIRE(r.store.UpsertIndicator(next_year).ok());
  auto c = *r.store.GetCatalogue();
  const IndicatorInfo* vol = c->FindIndicator("VOL");
  CHECK(vol->InYear(2026)->max_value() == 1000);
  CHECK(vol->InYear(2030)->max_value() == 5000);
  CHECK(vol->InYear(2025) == nullptr);
}

TEST_CASE("A batch keeps its good rows, reports each bad one and is applied once", "[ingest]") {
  TestDatabase db;
  Replica r(db);
  SeedTree(r.store);
  auto batch = Batch("b-1", {{"S1", "VOL", "2026-01", 10},
                             {"S1", "VOL", "2026-02", 2000},   // out of range
                             {"XX", "VOL", "2026-02", 1},      // unknown unit
                             {"D1", "RATE", "2026-01", 99.5}});
  auto first = r.store.IngestBatch(batch);
  REQUIRE(first.ok());
  CHECK(first->accepted() == 2);
  CHECK(first->rejected() == 2);
  REQUIRE(first->errors_size() == 2);
  CHECK(first->errors(0).index() == 1);
  CHECK(first->errors(0).code() == "OUT_OF_RANGE");
  CHECK(first->errors(1).code() == "UNKNOWN_UNIT");
  CHECK_FALSE(first->duplicate());

  auto again = r.store.IngestBatch(batch);
  REQUIRE(again.ok());
  CHECK(again->duplicate());
  CHECK(again->accepted() == 2);
  CHECK(again->errors_size() == 2);
  CHECK(again->last_seq() == first->last_seq());
  CHECK(db.Query("SELECT count(*) FROM ingest.reading_versions") == "2");

  auto strict = Batch("b-2", {{"S1", "VOL", "2026-03", 10}, {"S1", "VOL", "2026-04", -1}});
  strict.set_all_or_nothing(true);
  auto refused = r.store.IngestBatch(strict);
  REQUIRE(refused.ok());
  CHECK(refused->accepted() == 0);
  CHECK(refused->rejected() == 2);
  CHECK(db.Query("SELECT count(*) FROM ingest.reading_versions") == "2");

  CHECK(r.store.IngestBatch(Batch("", {})).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Corrections add versions and the latest is current", "[ingest]") {
  TestDatabase db;
  Replica r(db);
  SeedTree(r.store);
  REQUIRE(r.store.IngestBatch(Batch("v1", {{"S1", "VOL", "2026-01", 10}})).ok());
  auto b2 = Batch("v2", {{"S1", "VOL", "2026-01", 12}});
  b2.mutable_rows(0)->set_reason("meter replaced");
  REQUIRE(r.store.IngestBatch(b2).ok());
  auto c = *r.store.GetCatalogue();
  const int s1 = c->FindUnit("S1")->id, vol = c->FindIndicator("VOL")->id;
  const absl::CivilDay jan(2026, 1, 1);
  auto history = r.store.ReadVersions({s1}, {vol}, PeriodType::kMonth, jan, jan, true);
  REQUIRE(history.ok());
  REQUIRE(history->size() == 2);
  CHECK((*history)[0].value == 10);
  CHECK((*history)[0].version == 1);
  CHECK_FALSE((*history)[0].current);
  CHECK((*history)[1].value == 12);
  CHECK((*history)[1].version == 2);
  CHECK((*history)[1].current);
  CHECK((*history)[1].reason == "meter replaced");
  CHECK((*history)[1].source == "billing");
  auto current = r.store.ReadVersions({s1}, {vol}, PeriodType::kMonth, jan, jan, false);
  REQUIRE(current->size() == 1);
  CHECK(current->front().value == 12);
}

// One feed page as a plain value.
struct Page {
  std::vector<v1::ReadingChange> changes;
  int64_t last_seq = 0;
};
std::optional<Page> Feed(IngestStore& store, const Catalogue& c, int64_t from, const FeedFilter& filter,
                         int max_batches) {
  v1::WatchReadingsResponse response;
  if (!store.ReadFeed(c, from, filter, max_batches, &response).ok()) return std::nullopt;
  return Page{{response.changes().begin(), response.changes().end()}, response.last_seq()};
}

TEST_CASE("The feed replays from zero, resumes from a cursor and pages by batch", "[ingest]") {
  TestDatabase db;
  Replica r(db);
  SeedTree(r.store);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(r.store.IngestBatch(Batch("f" + std::to_string(i),
                                      {{"S1", "VOL", "2026-0" + std::to_string(i + 1), 1.0 * i},
                                       {"D1", "VOL", "2026-0" + std::to_string(i + 1), 2.0 * i}}))
                .ok());
  }
  auto c = *r.store.GetCatalogue();
  auto all = Feed(r.store, *c, 0, {}, 100);
  REQUIRE(all.has_value());
  REQUIRE(all->changes.size() == 10);
  for (size_t i = 1; i < all->changes.size(); ++i) {
    CHECK(all->changes[i].seq() > all->changes[i - 1].seq());
  }
  CHECK(all->changes[0].reading().key().unit_code() == "S1");
  CHECK(all->changes[0].reading().key().period().key() == "2026-01");

  auto first = Feed(r.store, *c, 0, {}, 2);  // two batches
  REQUIRE(first->changes.size() == 4);
  auto rest = Feed(r.store, *c, first->last_seq, {}, 100);
  REQUIRE(rest->changes.size() == 6);
  CHECK(rest->changes[0].seq() == all->changes[4].seq());
  // Resuming from the middle of a batch delivers the rest of that batch.
  auto mid = Feed(r.store, *c, all->changes[6].seq(), {}, 100);
  REQUIRE(mid->changes.size() == 3);
  CHECK(mid->changes[0].seq() == all->changes[7].seq());
  // A filter skips rows but the position still advances past them.
  FeedFilter only_d1_units;
  only_d1_units.indicator_ids = {c->FindIndicator("RATE")->id};
  auto none = Feed(r.store, *c, 0, only_d1_units, 100);
  CHECK(none->changes.empty());
  CHECK(none->last_seq == all->last_seq);
  auto end = Feed(r.store, *c, all->last_seq, {}, 100);
  CHECK(end->changes.empty());
  CHECK(end->last_seq == all->last_seq);
}

TEST_CASE("The feed has no gap when two writers commit in the opposite order they started",
          "[ingest]") {
  TestDatabase db;
  Replica a(db), b(db);
  SeedTree(a.store);
  absl::Notification a_wrote, b_committed;
  a.store.SetBeforeCommitHookForTest([&] {
    a_wrote.Notify();
    b_committed.WaitForNotification();
  });
  absl::StatusOr<v1::BatchResult> result_a = absl::UnknownError("not run");
  std::thread writer_a([&] { result_a = a.store.IngestBatch(Batch("a", {{"S1", "VOL", "2026-01", 1}})); });
  a_wrote.WaitForNotification();  // A took its batch id and wrote its rows first
  auto result_b = b.store.IngestBatch(Batch("b", {{"S1", "VOL", "2026-02", 2}}));
  REQUIRE(result_b.ok());

  // A reader now sees B only, and moves its cursor past B.
  auto c = *b.store.GetCatalogue();
  auto seen = Feed(b.store, *c, 0, {}, 100);
  REQUIRE(seen->changes.size() == 1);
  CHECK(seen->changes[0].reading().key().period().key() == "2026-02");
  b_committed.Notify();
  writer_a.join();
  REQUIRE(result_a.ok());
  CHECK(result_a->last_seq() > result_b->last_seq());  // commit order, not start order
  auto next = Feed(b.store, *c, seen->last_seq, {}, 100);
  REQUIRE(next->changes.size() == 1);
  CHECK(next->changes[0].reading().key().period().key() == "2026-01");
}

TEST_CASE("Two replicas ingesting the same batch at once apply it once", "[ingest]") {
  TestDatabase db;
  Replica a(db), b(db);
  SeedTree(a.store);
  const auto batch = Batch("same", {{"S1", "VOL", "2026-01", 1}, {"S1", "VOL", "2026-02", 2}});
  absl::Notification a_wrote, release;
  a.store.SetBeforeCommitHookForTest([&] {
    a_wrote.Notify();
    release.WaitForNotification();
  });
  absl::StatusOr<v1::BatchResult> result_a = absl::UnknownError("not run");
  std::thread writer_a([&] { result_a = a.store.IngestBatch(batch); });
  a_wrote.WaitForNotification();
  absl::StatusOr<v1::BatchResult> result_b = absl::UnknownError("not run");
  std::thread writer_b([&] { result_b = b.store.IngestBatch(batch); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // B now waits on A's commit lock
  release.Notify();
  writer_a.join();
  writer_b.join();
  REQUIRE(result_a.ok());
  REQUIRE(result_b.ok());
  CHECK(result_a->duplicate() != result_b->duplicate());
  CHECK(result_b->accepted() == 2);
  CHECK(db.Query("SELECT count(*) FROM ingest.reading_versions") == "2");
}

}  // namespace
}  // namespace aw::ingest
