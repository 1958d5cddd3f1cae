// Monitor behaviour about time, against a real PostgreSQL, with the clock
// driven by the test instead of sleeping: notification grouping windows,
// retries with backoff, repeats of events still open, whitelist expiry, and
// timer rows that come due and are looked at again.
#include <catch2/catch.hpp>
#include "absl/strings/str_cat.h"
#include <nlohmann/json.hpp>
#include <prometheus/registry.h>

#include "common/clock.h"
#include "common/migrations.h"
#include "common/pg.h"
#include "services/monitor/monitor_metrics.h"
#include "services/monitor/monitor_store.h"
#include "services/monitor/notifier.h"
#include "tests/support/http_receiver.h"
#include "tests/support/rules.h"
#include "tests/support/test_db.h"

namespace aw::monitor {
std::vector<db::EmbeddedFile> MigrationFiles();

namespace {

using aw::testing::TestDatabase;

// 2026-03-10 08:00 UTC.
const absl::Time kStart = absl::FromCivil(absl::CivilSecond(2026, 3, 10, 8, 0, 0), absl::UTCTimeZone());

// A migrated monitor schema with a theme, a rule R1 that notifies at levels 1
// and 2, a contact for S1, and a store whose clock the test moves.
struct Monitor {
  explicit Monitor(const TestDatabase& db)
      : clock(kStart), pool(db::PoolOptions{.url = db.url(), .schema = "monitor", .size = 2}), store(&pool, &clock),
        metrics(registry) {
    REQUIRE(aw::testing::MigrateSchema(db.url(), "monitor", MigrationFiles()).ok());
    v1::UpsertThemeRequest theme;
    theme.mutable_theme()->set_code("T1");
    theme.mutable_theme()->set_name("电费回收");
    theme.mutable_theme()->set_category(v1::BUSINESS_CATEGORY_BILLING);
    theme.set_actor("tester");
    REQUIRE(store.UpsertTheme(theme).ok());
    REQUIRE(store.SaveRule(aw::testing::MakeRule("R1", "T1", v1::RULE_KIND_STATIC_THRESHOLD, "RATE", {80, 90}),
                           "tester", "", 0)
                .ok());
    v1::Contact contact;
    contact.set_unit_code("S1");
    contact.set_role("leader");
    contact.set_name("Wang Fang");
    contact.set_phone("13800000001");
    contact.set_active(true);
    REQUIRE(store.UpsertContact(contact, "tester").ok());
  }

  // Opens (or changes) the event of R1 for `unit` and `period`.
  void Event(Change change, const std::string& unit, const std::string& period, int level, bool suppressed = false) {
    Verdict v;
    v.level = level;
    v.observed = 70;
    v.message = "value 70 is low";
    EventUpdate u = EventUpdate::Of(*store.GetRule("R1"), change, unit, period, "RATE", v);
    u.suppressed = suppressed;
    REQUIRE(store.Apply({u}, "", 0, 0).ok());
  }

  std::vector<v1::WarningEvent> EventsOf(const std::string& unit) {
    EventFilter f;
    f.unit_codes = {unit};
    std::vector<v1::WarningEvent> out;
    int64_t total = 0;
    REQUIRE(store.ListEvents(f, false, &out, &total).ok());
    return out;
  }

  std::vector<v1::Notification> Notifications() {
    std::vector<v1::Notification> out;
    int64_t total = 0;
    REQUIRE(store.ListNotifications({}, {}, 0, 100, true, &out, &total).ok());
    return out;
  }

  FakeClock clock;
  db::Pool pool;
  MonitorStore store;
  prometheus::Registry registry;
  MonitorMetrics metrics;
};

TEST_CASE("Notifications group within the window, retry with backoff and repeat, on the clock's time",
          "[integration][monitor]") {
  TestDatabase db;
  Monitor m(db);
  aw::testing::HttpReceiver gateway;
  Notifier notifier(&m.store, &m.metrics,
                    {.gateway_url = gateway.url(),
                     .group_window = absl::Seconds(60),
                     .repeat = absl::Hours(24),
                     .max_attempts = 3,
                     .clock = &m.clock});
  m.Event(Change::kOpen, "S1", "2026-02", 1);
  CHECK(*notifier.DeliverDue() == 0);  // the grouping window is open
  m.clock.Advance(absl::Seconds(30));
  m.Event(Change::kOpen, "S1", "2026-01", 2);
  CHECK(*notifier.DeliverDue() == 0);
  REQUIRE(m.Notifications().size() == 1);
  CHECK(m.Notifications()[0].event_ids_size() == 2);  // joined the open message
  m.clock.Advance(absl::Seconds(31));
  CHECK(*notifier.DeliverDue() == 1);
  REQUIRE(gateway.accepted().size() == 1);
  const auto body = nlohmann::json::parse(gateway.accepted()[0].body);
  CHECK(body["events"].size() == 2);
  CHECK(body["recipient"] == "13800000001");

  // A gateway that fails: tried again after 1 s, then 2 s, then given up.
  gateway.SetFailing(true);
  m.Event(Change::kOpen, "S1", "2025-12", 1);
  CHECK(*notifier.DeliverDue() == 0);  // into a new message, its window open
  CHECK(gateway.refused() == 0);
  m.clock.Advance(absl::Seconds(61));
  CHECK(*notifier.DeliverDue() == 0);
  CHECK(gateway.refused() == 1);
  CHECK(*notifier.DeliverDue() == 0);  // not due again yet
  CHECK(gateway.refused() == 1);
  m.clock.Advance(absl::Seconds(1));
  notifier.DeliverDue().IgnoreError();
  CHECK(gateway.refused() == 2);
  m.clock.Advance(absl::Seconds(1));
  notifier.DeliverDue().IgnoreError();
  CHECK(gateway.refused() == 2);  // the second wait is 2 s
  m.clock.Advance(absl::Seconds(1));
  notifier.DeliverDue().IgnoreError();
  CHECK(gateway.refused() == 3);
  auto messages = m.Notifications();
  REQUIRE(messages.size() == 2);
  CHECK(messages[1].state() == v1::NOTIFICATION_STATE_FAILED);
  CHECK(messages[1].attempts() == 3);

  // A day on, the events still open are told again, once.
  gateway.SetFailing(false);
  m.clock.Advance(absl::Hours(24));
  CHECK(*notifier.DeliverDue() == 0);  // queued, in a new grouping window
  m.clock.Advance(absl::Seconds(61));
  CHECK(*notifier.DeliverDue() == 1);
  REQUIRE(gateway.accepted().size() == 2);
  CHECK(gateway.accepted()[1].idempotency_key != gateway.accepted()[0].idempotency_key);
  CHECK(nlohmann::json::parse(gateway.accepted()[1].body)["events"].size() == 2);
  m.clock.Advance(absl::Hours(1));
  CHECK(*notifier.DeliverDue() == 0);
}

TEST_CASE("Whitelist entries cover what is open when made, expire on the clock's time, and what they suppressed "
          "reopens",
          "[integration][monitor]") {
  TestDatabase db;
  Monitor m(db);
  // Open before the entry exists: the entry covers it at once.
  m.Event(Change::kOpen, "S1", "2026-01", 2);
  m.Event(Change::kOpen, "S2", "2026-01", 2);  // not in the entry's scope
  REQUIRE(m.store.RouteRaisedEvents(100, absl::Minutes(5)).ok());  // the S1 opening is told
  const size_t told = m.Notifications().size();
  v1::WhitelistEntry entry;
  entry.set_rule_code("R1");
  entry.mutable_scope()->set_unit_code("S1");
  entry.set_reason("meter replacement");
  entry.mutable_frozen_from()->set_seconds(absl::ToUnixSeconds(kStart));
  entry.mutable_frozen_until()->set_seconds(absl::ToUnixSeconds(kStart + absl::Hours(1)));
  DirectorySnapshot dir;
  auto added = m.store.AddWhitelist(entry, "centre.admin", "", dir);
  REQUIRE(added.ok());
  CHECK(added->active());
  CHECK(added->audit().created_by() == "centre.admin");
  CHECK(added->audit().updated_by() == "centre.admin");
  auto s1 = m.EventsOf("S1");
  REQUIRE(s1.size() == 1);
  auto covered = *m.store.GetEvent(s1[0].id(), true);
  CHECK(covered.state() == v1::EVENT_STATE_SUPPRESSED);
  CHECK(covered.history(covered.history_size() - 1).change() == "suppressed");
  CHECK(covered.history(covered.history_size() - 1).actor() == "centre.admin");
  CHECK(covered.history(covered.history_size() - 1).comment() ==
        absl::StrCat("whitelist entry ", added->id(), ": meter replacement"));
  CHECK(m.EventsOf("S2").at(0).state() == v1::EVENT_STATE_OPEN);
  REQUIRE(m.store.RouteRaisedEvents(100, absl::Minutes(5)).ok());
  CHECK(m.Notifications().size() == told);  // suppressing tells no one

  m.Event(Change::kOpen, "S1", "2026-02", 1, /*suppressed=*/true);
  m.Event(Change::kResolve, "S1", "2026-01", 0);  // its condition went away while suppressed
  m.clock.Advance(absl::Minutes(59));
  CHECK(m.store.Whitelist(false)->size() == 1);
  CHECK_FALSE(*m.store.ExpiryDue());
  CHECK(m.store.ReopenExpired(dir)->empty());
  m.clock.Advance(absl::Minutes(1));
  CHECK(m.store.Whitelist(false)->empty());
  CHECK_FALSE(m.store.WhitelistEntry(added->id())->active());
  CHECK(*m.store.ExpiryDue());
  auto reopened = m.store.ReopenExpired(dir);
  REQUIRE(reopened->size() == 1);  // only the one whose condition still holds
  const auto event = *m.store.GetEvent((*reopened)[0].id(), true);
  CHECK(event.period().key() == "2026-02");
  CHECK(event.state() == v1::EVENT_STATE_OPEN);
  CHECK(event.history(event.history_size() - 1).change() == "reopened");
  CHECK_FALSE(*m.store.ExpiryDue());
  CHECK(m.store.ReopenExpired(dir)->empty());  // an expiry is acted on once
}

TEST_CASE("Timer rows come due on the clock and are looked at again a day later while the problem lasts",
          "[integration][monitor]") {
  TestDatabase db;
  Monitor m(db);
  v1::Rule missing = aw::testing::MakeRule("R-MISS", "T1", v1::RULE_KIND_MISSING, "RATE", {10, 0});
  REQUIRE(m.store.SaveRule(missing, "tester", "", 0).ok());
  REQUIRE(m.store.ArmTimer("R-MISS", "2026-02", kStart + absl::Hours(1)).ok());
  int judged = 0;
  int level = 2;
  auto judge = [&](const v1::Rule& rule, const Period& period,
                   const std::map<std::string, OpenEvent>& open) -> absl::StatusOr<TimerJudgement> {
    ++judged;
    Verdict v;
    v.level = level;
    std::map<std::string, UnitVerdict> verdicts;
    if (level > 0) verdicts["S1"] = {v, "RATE"};
    return TimerJudgement{TimerChanges(rule, period, verdicts, open), level > 0};
  };
  auto next_due = [&](const v1::Rule&, const Period& next) -> absl::StatusOr<absl::Time> {
    return SubmissionDeadline(next, 0);
  };
  std::pair<std::vector<EventUpdate>, std::vector<int>> applied;
  CHECK_FALSE(*m.store.RunDueTimer(judge, next_due, absl::Minutes(5), &applied));
  m.clock.Advance(absl::Hours(1));
  CHECK(*m.store.RunDueTimer(judge, next_due, absl::Minutes(5), &applied));
  CHECK(judged == 1);
  REQUIRE(applied.first.size() == 1);
  CHECK(applied.first[0].change == Change::kOpen);
  CHECK(db.Query("SELECT to_char(due_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI') FROM monitor.timers "
                 "WHERE period_key = '2026-02'") == "03-11 09:00");  // again a day later
  CHECK(db.Query("SELECT to_char(due_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI') FROM monitor.timers "
                 "WHERE period_key = '2026-03'") == "04-01 00:00");  // and the next month armed
  m.clock.Advance(absl::Hours(23));
  CHECK_FALSE(*m.store.RunDueTimer(judge, next_due, absl::Minutes(5), &applied));
  m.clock.Advance(absl::Hours(1));
  level = 1;
  CHECK(*m.store.RunDueTimer(judge, next_due, absl::Minutes(5), &applied));
  CHECK(applied.first[0].change == Change::kEscalate);
  // Value reported: the event resolves and the row of the period goes.
  m.clock.Advance(absl::Hours(24));
  level = 0;
  CHECK(*m.store.RunDueTimer(judge, next_due, absl::Minutes(5), &applied));
  CHECK(applied.second == std::vector<int>{1});
  CHECK(db.Query("SELECT count(*) FROM monitor.timers WHERE period_key = '2026-02'") == "0");
  // A judgement that fails is tried again on the clock's time, five minutes on.
  m.clock.Set(absl::FromCivil(absl::CivilDay(2026, 4, 1), absl::UTCTimeZone()));
  auto failing = [](const v1::Rule&, const Period&, const std::map<std::string, OpenEvent>&)
      -> absl::StatusOr<TimerJudgement> { return absl::UnavailableError("ingest away"); };
  CHECK(*m.store.RunDueTimer(failing, next_due, absl::Minutes(5), &applied));
  CHECK(db.Query("SELECT to_char(due_at AT TIME ZONE 'UTC', 'MM-DD HH24:MI') || ' ' || last_error FROM "
                 "monitor.timers WHERE period_key = '2026-03'") == "04-01 00:05 ingest away");
}

}  // namespace
}  // namespace aw::monitor
