// The monitor store against a real PostgreSQL: event changes address the
// unresolved event of their (rule, unit, period) key and apply in order, also
// when one transaction changes the same key several times; each keeps its
// history and notification queue row; the evaluator's cursor is fenced.
#include "services/monitor/monitor_store.h"

#include <catch2/catch.hpp>

#include "common/migrations.h"
#include "common/pg.h"
#include "tests/support/test_db.h"

namespace aw::monitor {
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

using aw::testing::TestDatabase;

struct Replica {
  explicit Replica(const TestDatabase& db)
      : db_(db), pool(db::PoolOptions{.url = db.url(), .schema = "monitor", .size = 2}), store(&pool, Clock::Real()) {
    REQUIRE(aw::testing::MigrateSchema(db.url(), "monitor", MigrationFiles()).ok());
  }

  std::vector<v1::WarningEvent> Events(const std::string& unit) {
    EventFilter filter;
    filter.unit_codes = {unit};
    std::vector<v1::WarningEvent> out;
    int64_t total = 0;
    REQUIRE(store.ListEvents(filter, true, &out, &total).ok());
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id() < b.id(); });
    return out;
  }

  int64_t Queued() { return std::stoll(db_.Query("SELECT count(*) FROM monitor.notify_queue")); }

  const TestDatabase& db_;
  db::Pool pool;
  MonitorStore store;
};

EventUpdate Update(Change change, const std::string& unit, int level, double observed) {
  EventUpdate u;
  u.change = change;
  u.rule_code = "R1";
  u.theme_code = "T1";
  u.unit_code = unit;
  u.period_key = "2025-03";
  u.indicator_code = "RATE";
  u.verdict.level = level;
  u.verdict.observed = observed;
  u.verdict.message = "m";
  return u;
}

std::vector<std::string> Changes(const v1::WarningEvent& e) {
  std::vector<std::string> out;
  for (const auto& h : e.history()) out.push_back(h.change());
  return out;
}

TEST_CASE("Changes of one key apply in order within one transaction", "[integration][monitor]") {
  TestDatabase db;
  Replica r(db);
  const std::vector<EventUpdate> updates = {
      Update(Change::kOpen, "S1", 3, 75),       Update(Change::kEscalate, "S1", 1, 55),
      Update(Change::kOpen, "S2", 2, 65),       Update(Change::kResolve, "S1", 0, 93),
      Update(Change::kOpen, "S1", 2, 66),       Update(Change::kDeescalate, "S2", 3, 70),
      Update(Change::kResolve, "S3", 0, 90),  // nothing unresolved under this key: no change
  };
  auto resolved = r.store.Apply(updates, "ingest.readings", 0, 42);
  REQUIRE(resolved.ok());
  CHECK(*resolved == std::vector<int>{1});  // the level the event had
  CHECK(*r.store.Cursor("ingest.readings") == 42);

  const auto s1 = r.Events("S1");
  REQUIRE(s1.size() == 2);
  const auto first = *r.store.GetEvent(s1[0].id(), true);
  CHECK(first.state() == v1::EVENT_STATE_RESOLVED);
  CHECK(first.level() == 1);
  CHECK(first.observed() == 93);
  CHECK(Changes(first) == std::vector<std::string>{"opened", "escalated", "resolved"});
  CHECK(s1[1].state() == v1::EVENT_STATE_OPEN);
  CHECK(s1[1].level() == 2);
  const auto s2 = r.Events("S2");
  REQUIRE(s2.size() == 1);
  CHECK(s2[0].level() == 3);
  CHECK(Changes(*r.store.GetEvent(s2[0].id(), true)) == std::vector<std::string>{"opened", "de-escalated"});
  CHECK(r.Events("S3").empty());
  // Raised (opened, escalated) events wait for the notifier: one row per event.
  CHECK(r.Queued() == 3);

  // A replica whose cursor view is stale changes nothing.
  auto stale = r.store.Apply({Update(Change::kResolve, "S2", 0, 99)}, "ingest.readings", 0, 50);
  CHECK(stale.status().code() == absl::StatusCode::kAborted);
  CHECK(r.Events("S2")[0].state() == v1::EVENT_STATE_OPEN);
  CHECK(*r.store.Cursor("ingest.readings") == 42);
}

TEST_CASE("An escalation reopens an acknowledged event, a resolution not judged from a value keeps its observation",
          "[integration][monitor]") {
  TestDatabase db;
  Replica r(db);
  REQUIRE(r.store.Apply({Update(Change::kOpen, "S1", 3, 75)}, "", 0, 0).ok());
  const int64_t id = r.Events("S1")[0].id();
  db.Query("DELETE FROM monitor.notify_queue");
  REQUIRE(r.store.Acknowledge(id, "duty.officer", "on it").ok());
  REQUIRE(r.store.Apply({Update(Change::kDeescalate, "S1", 4, 78)}, "", 0, 0).ok());
  CHECK(r.store.GetEvent(id, false)->state() == v1::EVENT_STATE_ACKNOWLEDGED);
  CHECK(r.Queued() == 0);  // a milder level is no news
  REQUIRE(r.store.Apply({Update(Change::kEscalate, "S1", 1, 50)}, "", 0, 0).ok());
  CHECK(r.store.GetEvent(id, false)->state() == v1::EVENT_STATE_OPEN);
  CHECK(r.Queued() == 1);

  EventUpdate reported = Update(Change::kResolve, "S1", 0, 0);
  reported.keep_observed = true;
  REQUIRE(r.store.Apply({reported}, "", 0, 0).ok());
  const auto done = *r.store.GetEvent(id, true);
  CHECK(done.state() == v1::EVENT_STATE_RESOLVED);
  CHECK(done.observed() == 50);
  CHECK(Changes(done) == std::vector<std::string>{"opened", "acknowledged", "de-escalated", "escalated", "resolved"});
}

}  // namespace
}  // namespace aw::monitor
