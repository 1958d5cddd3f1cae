// The ingest service end to end over gRPC: the unit tree, bulk streams and
// their acknowledgements, manual entry and corrections, queries and roll-ups,
// completeness, the change feed, and a crash in the middle of a bulk stream.
#include <signal.h>

#include <atomic>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "tests/support/memory_load.h"
#include "tests/support/process.h"
#include "tests/support/readings.h"
#include "tests/support/test_db.h"

namespace aw::testing {
namespace {

namespace v1 = ::auditwatch::v1;

// A running ingest service with a small tree (P → C1 → D1 → S1, S2) and two
// indicators: RATE (%, monthly and quarterly, never rolled up) and VOL (kWh,
// monthly, quarterly and yearly, summed).
class Ingest {
 public:
  explicit Ingest(const TestDatabase& db, std::vector<std::string> args = {})
      : process_("ingest", db.url(), args) {
    REQUIRE(WaitForHealth(process_.address("ingest"), "", "SERVING") == "SERVING");
    stub_ = v1::IngestService::NewStub(process_.Channel("ingest"));
    CreateUnits(*stub_, SmallTree());
    Indicator("RATE", v1::ROLLUP_RULE_NONE, "%", 0, 100, {v1::PERIOD_TYPE_MONTH, v1::PERIOD_TYPE_QUARTER});
    Indicator("VOL", v1::ROLLUP_RULE_SUM, "kWh", 0, 1e6,
              {v1::PERIOD_TYPE_MONTH, v1::PERIOD_TYPE_QUARTER, v1::PERIOD_TYPE_YEAR});
  }

  void Indicator(const std::string& code, v1::RollupRule rollup, const std::string& uom, double lo,
                 double hi, std::vector<v1::PeriodType> types) {
    CreateIndicator(*stub_, {.code = code, .rollup = rollup, .unit_of_measure = uom, .min_value = lo,
                             .max_value = hi, .period_types = std::move(types), .deadline_days = 5});
  }

  v1::IngestService::Stub& stub() { return *stub_; }
  AuditwatchProcess& process() { return process_; }

 private:
  AuditwatchProcess process_;
  std::unique_ptr<v1::IngestService::Stub> stub_;
};

v1::ReadingBatch Batch(const std::string& id, const std::vector<aw::testing::Row>& rows) {
  return aw::testing::MakeBatch(id, rows);
}

// Sends batches on one stream and returns the acknowledgements.
std::vector<v1::BatchResult> Send(v1::IngestService::Stub& stub, const std::vector<v1::ReadingBatch>& batches,
                                  grpc::Status* status = nullptr) {
  grpc::ClientContext ctx;
  auto stream = stub.IngestReadings(&ctx);
  for (const auto& b : batches) REQUIRE(stream->Write(b));
  stream->WritesDone();
  std::vector<v1::BatchResult> results;
  v1::BatchResult r;
  while (stream->Read(&r)) results.push_back(r);
  const grpc::Status s = stream->Finish();
  if (status != nullptr) *status = s;
  else REQUIRE(s.ok());
  return results;
}

v1::ReadingKey Key(const std::string& unit, const std::string& ind, const std::string& period) {
  v1::ReadingKey k;
  k.set_unit_code(unit);
  k.set_indicator_code(ind);
  k.mutable_period()->set_key(period);
  return k;
}

TEST_CASE("Bulk streams acknowledge each batch in order, once, with per-row errors", "[e2e][ingest]") {
  TestDatabase db;
  Ingest ingest(db);
  auto results = Send(ingest.stub(), {Batch("b1", {{"S1", "VOL", "2025-01", 5}, {"S1", "VOL", "2025-02", 7}}),
                                      Batch("b2", {{"S1", "RATE", "2025-01", 101}, {"S2", "VOL", "2025-W03", 1}}),
                                      Batch("b3", {{"S2", "VOL", "2025-01", 3}})});
  REQUIRE(results.size() == 3);
  CHECK(results[0].batch_id() == "b1");
  CHECK(results[0].accepted() == 2);
  CHECK(results[1].accepted() == 0);
  REQUIRE(results[1].errors_size() == 2);
  CHECK(results[1].errors(0).code() == "OUT_OF_RANGE");
  CHECK(results[1].errors(1).code() == "PERIOD_TYPE_NOT_ALLOWED");
  CHECK(results[2].last_seq() > results[0].last_seq());
  // Re-sent on a new stream: the same answers, nothing applied twice.
  auto again = Send(ingest.stub(), {Batch("b1", {{"S1", "VOL", "2025-01", 999}})});
  REQUIRE(again.size() == 1);
  CHECK(again[0].duplicate());
  CHECK(again[0].accepted() == 2);
  CHECK(db.Query("SELECT count(*) FROM ingest.reading_versions") == "3");
  // A batch without an id ends the stream with INVALID_ARGUMENT naming the field.
  grpc::Status status;
  Send(ingest.stub(), {Batch("", {{"S1", "VOL", "2025-03", 1}})}, &status);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("batch_id") != std::string::npos);
}

TEST_CASE("Manual entry, corrections with history, and clear errors", "[e2e][ingest]") {
  TestDatabase db;
  Ingest ingest(db);
  auto& stub = ingest.stub();
  v1::SubmitReadingRequest submit;
  *submit.mutable_key() = Key("S1", "RATE", "2025-03");
  submit.set_value(97.2);
  submit.set_entered_by("zhang.wei");
  v1::Reading first;
  {
    grpc::ClientContext ctx;
    REQUIRE(stub.SubmitReading(&ctx, submit, &first).ok());
  }
  CHECK(first.version() == 1);
  CHECK(first.current());
  CHECK(first.source() == "manual");
  {
    grpc::ClientContext ctx;
    v1::Reading out;
    CHECK(stub.SubmitReading(&ctx, submit, &out).error_code() == grpc::StatusCode::ALREADY_EXISTS);
  }
  v1::CorrectReadingRequest correct;
  *correct.mutable_key() = Key("S1", "RATE", "2025-03");
  correct.set_value(98.1);
  correct.set_entered_by("li.na");
  {
    grpc::ClientContext ctx;
    v1::Reading out;
    const grpc::Status s = stub.CorrectReading(&ctx, correct, &out);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("reason") == 0);
  }
  correct.set_reason("recount of complaints");
  correct.set_expected_version(1);
  v1::Reading second;
  {
    grpc::ClientContext ctx;
    REQUIRE(stub.CorrectReading(&ctx, correct, &second).ok());
  }
  CHECK(second.version() == 2);
  CHECK(second.value() == 98.1);
  {
    grpc::ClientContext ctx;
    v1::Reading out;
    CHECK(stub.CorrectReading(&ctx, correct, &out).error_code() == grpc::StatusCode::ABORTED);  // stale
  }
  v1::ReadingHistory history;
  {
    grpc::ClientContext ctx;
    REQUIRE(stub.GetReadingHistory(&ctx, Key("S1", "RATE", "2025-03"), &history).ok());
  }
  REQUIRE(history.versions_size() == 2);
  CHECK(history.versions(0).value() == 97.2);
  CHECK(history.versions(0).entered_by() == "zhang.wei");
  CHECK_FALSE(history.versions(0).current());
  CHECK(history.versions(1).reason() == "recount of complaints");
  CHECK(history.versions(1).current());

  // Idempotent retries with a request id.
  submit.set_request_id("req-42");
  *submit.mutable_key() = Key("S2", "RATE", "2025-03");
  v1::Reading a, b;
  {
    grpc::ClientContext ctx;
    REQUIRE(stub.SubmitReading(&ctx, submit, &a).ok());
  }
  {
    grpc::ClientContext ctx;
    REQUIRE(stub.SubmitReading(&ctx, submit, &b).ok());
  }
  CHECK(a.seq() == b.seq());

  struct Bad {
    v1::ReadingKey key;
    double value;
    grpc::StatusCode code;
    std::string field;
  };
  for (const Bad& bad : {Bad{Key("S9", "RATE", "2025-03"), 1, grpc::StatusCode::NOT_FOUND, "key.unit_code"},
                         Bad{Key("S1", "NOPE", "2025-03"), 1, grpc::StatusCode::NOT_FOUND, "key.indicator_code"},
                         Bad{Key("S1", "RATE", "2025-13"), 1, grpc::StatusCode::INVALID_ARGUMENT, "key.period"},
                         Bad{Key("S1", "RATE", "2025-04"), 120, grpc::StatusCode::INVALID_ARGUMENT, "value"},
                         Bad{Key("S1", "RATE", "2025"), 1, grpc::StatusCode::INVALID_ARGUMENT, "period.type"}}) {
    v1::SubmitReadingRequest req;
    *req.mutable_key() = bad.key;
    req.set_value(bad.value);
    req.set_entered_by("tester");
    grpc::ClientContext ctx;
    v1::Reading out;
    const grpc::Status s = stub.SubmitReading(&ctx, req, &out);
    INFO(s.error_message());
    CHECK(s.error_code() == bad.code);
    CHECK(s.error_message().find(bad.field) == 0);
  }
}

TEST_CASE("Queries page through current values, roll-ups are derived and refused for rates",
          "[e2e][ingest]") {
  TestDatabase db;
  Ingest ingest(db);
  auto& stub = ingest.stub();
  std::vector<aw::testing::Row> rows;
  for (int m = 1; m <= 3; ++m) {
    for (const char* unit : {"S1", "S2"}) {
      rows.emplace_back(unit, "VOL", absl::StrCat("2025-0", m), 10.0 * m);
      rows.emplace_back(unit, "RATE", absl::StrCat("2025-0", m), 90.0 + m);
    }
  }
  rows.emplace_back("S1", "VOL", "2025-Q2", 1000);  // reported directly
  Send(stub, {Batch("q", rows)});

  v1::QueryReadingsRequest query;
  query.mutable_scope()->set_unit_code("D1");
  query.mutable_scope()->set_include_descendants(true);
  query.mutable_periods()->mutable_first()->set_key("2025-01");
  query.mutable_periods()->mutable_last()->set_key("2025-03");
  query.mutable_page()->set_page_size(5);
  std::vector<v1::Reading> all;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 10);
    grpc::ClientContext ctx;
    v1::QueryReadingsResponse resp;
    REQUIRE(stub.QueryReadings(&ctx, query, &resp).ok());
    all.insert(all.end(), resp.readings().begin(), resp.readings().end());
    CHECK(resp.page().total_size() == 12);
    if (resp.page().next_page_token().empty()) break;
    query.mutable_page()->set_page_token(resp.page().next_page_token());
  }
  CHECK(all.size() == 12);
  {
    v1::QueryReadingsRequest other = query;
    other.add_indicator_codes("VOL");
    grpc::ClientContext ctx;
    v1::QueryReadingsResponse resp;
    CHECK(stub.QueryReadings(&ctx, other, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }

  // Q1 of VOL is the sum of its months, marked as derived with its sources.
  v1::GetReadingRequest get;
  *get.mutable_key() = Key("S2", "VOL", "2025-Q1");
  get.set_allow_derived(true);
  v1::Reading q1;
  {
    grpc::ClientContext ctx;
    REQUIRE(stub.GetReading(&ctx, get, &q1).ok());
  }
  CHECK(q1.derived());
  CHECK(q1.value() == 60);
  CHECK(q1.derived_by() == v1::ROLLUP_RULE_SUM);
  CHECK(q1.derived_from_size() == 3);
  // A reported value wins over a roll-up.
  *get.mutable_key() = Key("S1", "VOL", "2025-Q2");
  v1::Reading q2;
  {
    grpc::ClientContext ctx;
    REQUIRE(stub.GetReading(&ctx, get, &q2).ok());
  }
  CHECK_FALSE(q2.derived());
  CHECK(q2.value() == 1000);
  // Rates are never rolled up.
  *get.mutable_key() = Key("S1", "RATE", "2025-Q1");
  {
    grpc::ClientContext ctx;
    v1::Reading out;
    const grpc::Status s = stub.GetReading(&ctx, get, &out);
    CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(s.error_message().find("rate") != std::string::npos);
  }
  // Incomplete months give no roll-up.
  *get.mutable_key() = Key("S1", "VOL", "2025");
  {
    grpc::ClientContext ctx;
    v1::Reading out;
    const grpc::Status s = stub.GetReading(&ctx, get, &out);
    CHECK(s.error_code() == grpc::StatusCode::NOT_FOUND);
    CHECK(s.error_message().find("3 of 12 month") != std::string::npos);
  }
  // The query can include derived quarters.
  v1::QueryReadingsRequest quarters;
  quarters.mutable_scope()->set_unit_code("D1");
  quarters.mutable_scope()->set_include_descendants(true);
  quarters.mutable_periods()->mutable_first()->set_key("2025-Q1");
  quarters.mutable_periods()->mutable_last()->set_key("2025-Q2");
  quarters.set_include_derived(true);
  grpc::ClientContext ctx;
  v1::QueryReadingsResponse resp;
  REQUIRE(stub.QueryReadings(&ctx, quarters, &resp).ok());
  int derived = 0;
  for (const auto& r : resp.readings()) derived += r.derived() ? 1 : 0;
  CHECK(resp.readings_size() == 3);  // S1 Q1 VOL derived, S2 Q1 VOL derived, S1 Q2 VOL reported
  CHECK(derived == 2);
}

TEST_CASE("Queries with roll-ups page by key too, a reading per page or all at once alike", "[e2e][ingest]") {
  TestDatabase db;
  Ingest ingest(db);
  auto& stub = ingest.stub();
  std::vector<aw::testing::Row> rows;
  for (int m = 1; m <= 6; ++m) {
    for (const char* unit : {"S1", "S2", "D1"}) rows.emplace_back(unit, "VOL", absl::StrFormat("2025-%02d", m), m);
  }
  rows.emplace_back("S1", "VOL", "2025-Q2", 1000);  // reported: wins over the roll-up
  Send(stub, {Batch("r", rows)});
  v1::QueryReadingsRequest query;
  query.mutable_scope()->set_unit_code("D1");
  query.mutable_scope()->set_include_descendants(true);
  query.add_indicator_codes("VOL");
  query.mutable_periods()->mutable_first()->set_key("2025-Q1");
  query.mutable_periods()->mutable_last()->set_key("2025-Q2");
  query.set_include_derived(true);
  auto walk = [&](int size) {
    std::vector<std::string> seen;
    v1::QueryReadingsRequest req = query;
    req.mutable_page()->set_page_size(size);
    for (int pages = 0;; ++pages) {
      REQUIRE(pages < 20);
      grpc::ClientContext ctx;
      v1::QueryReadingsResponse resp;
      REQUIRE(stub.QueryReadings(&ctx, req, &resp).ok());
      CHECK(resp.page().total_size() == 6);
      for (const auto& r : resp.readings()) {
        seen.push_back(absl::StrCat(r.key().unit_code(), "/", r.key().period().key(), "=", r.value(),
                                    r.derived() ? "d" : ""));
      }
      if (resp.page().next_page_token().empty()) break;
      req.mutable_page()->set_page_token(resp.page().next_page_token());
    }
    return seen;
  };
  const auto all = walk(100);
  CHECK(all == std::vector<std::string>{"D1/2025-Q1=6d", "D1/2025-Q2=15d", "S1/2025-Q1=6d", "S1/2025-Q2=1000",
                                        "S2/2025-Q1=6d", "S2/2025-Q2=15d"});
  CHECK(walk(1) == all);
  CHECK(walk(4) == all);
}

TEST_CASE("Completeness lists what is missing after the deadline, with rates", "[e2e][ingest]") {
  TestDatabase db;
  Ingest ingest(db);
  Send(ingest.stub(), {Batch("c", {{"S1", "VOL", "2025-01", 1}, {"S1", "RATE", "2025-01", 99},
                                   {"S2", "VOL", "2025-01", 2}})});
  v1::GetCompletenessRequest req;
  req.mutable_period()->set_key("2025-01");
  req.mutable_scope()->set_unit_code("D1");
  req.mutable_scope()->set_include_descendants(true);
  v1::GetCompletenessResponse resp;
  grpc::ClientContext ctx;
  REQUIRE(ingest.stub().GetCompleteness(&ctx, req, &resp).ok());
  // D1, S1, S2 each owe RATE and VOL for January.
  REQUIRE(resp.units_size() == 3);
  std::map<std::string, double> rate;
  for (const auto& u : resp.units()) rate[u.unit_code()] = u.rate();
  CHECK(rate["S1"] == 1.0);
  CHECK(rate["S2"] == 0.5);
  CHECK(rate["D1"] == 0.0);
  CHECK(resp.missing_size() == 3);
  // Paging walks the same missing values one at a time.
  {
    v1::GetCompletenessRequest paged = req;
    paged.mutable_page()->set_page_size(1);
    std::set<std::pair<std::string, std::string>> seen;
    for (int pages = 1;; ++pages) {
      REQUIRE(pages <= 3);
      grpc::ClientContext page_ctx;
      v1::GetCompletenessResponse page;
      REQUIRE(ingest.stub().GetCompleteness(&page_ctx, paged, &page).ok());
      REQUIRE(page.missing_size() == 1);
      seen.insert({page.missing(0).unit_code(), page.missing(0).indicator_code()});
      if (page.page().next_page_token().empty()) break;
      paged.mutable_page()->set_page_token(page.page().next_page_token());
    }
    CHECK(seen == std::set<std::pair<std::string, std::string>>{{"D1", "RATE"}, {"D1", "VOL"}, {"S2", "RATE"}});
  }
  // A filter on indicators counts only those.
  {
    v1::GetCompletenessRequest only_vol = req;
    only_vol.add_indicator_codes("VOL");
    grpc::ClientContext vol_ctx;
    v1::GetCompletenessResponse vol;
    REQUIRE(ingest.stub().GetCompleteness(&vol_ctx, only_vol, &vol).ok());
    REQUIRE(vol.missing_size() == 1);
    CHECK(vol.missing(0).unit_code() == "D1");
    for (const auto& u : vol.units()) CHECK(u.required() == 1);
    only_vol.add_indicator_codes("NOPE");
    grpc::ClientContext bad_ctx;
    const grpc::Status bad = ingest.stub().GetCompleteness(&bad_ctx, only_vol, &vol);
    CHECK(bad.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(bad.error_message(), Catch::Contains("indicator_codes[1]"));
  }
  // Before the deadline (period end + 5 days) nothing is missing yet.
  req.mutable_as_of()->set_seconds(absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(2025, 2, 3), absl::UTCTimeZone())));
  grpc::ClientContext early_ctx;
  v1::GetCompletenessResponse early;
  REQUIRE(ingest.stub().GetCompleteness(&early_ctx, req, &early).ok());
  CHECK(early.missing_size() == 0);
}

TEST_CASE("Units are queried as of a date over gRPC", "[e2e][ingest]") {
  TestDatabase db;
  Ingest ingest(db);
  auto& stub = ingest.stub();
  {
    v1::CreateUnitRequest req;
    req.set_code("D2");
    req.set_name("Unit D2");
    req.set_type(v1::UNIT_TYPE_COUNTY_COMPANY);
    req.set_parent_code("C1");
    req.set_effective_from("2025-01-01");
    req.set_actor("tester");
    grpc::ClientContext ctx;
    v1::Unit out;
    REQUIRE(stub.CreateUnit(&ctx, req, &out).ok());
  }
  {
    v1::MoveUnitRequest req;
    req.set_code("S2");
    req.set_new_parent_code("D2");
    req.set_effective_from("2025-07-01");
    req.set_actor("tester");
    req.set_reason("boundary change");
    grpc::ClientContext ctx;
    v1::Unit out;
    REQUIRE(stub.MoveUnit(&ctx, req, &out).ok());
  }
  auto parent_on = [&](const std::string& day) {
    v1::GetUnitRequest req;
    req.set_code("S2");
    req.set_as_of(day);
    grpc::ClientContext ctx;
    v1::Unit out;
    REQUIRE(stub.GetUnit(&ctx, req, &out).ok());
    return out.parent_code();
  };
  CHECK(parent_on("2025-01-31") == "D1");
  CHECK(parent_on("2025-07-01") == "D2");
  v1::ListUnitsRequest list;
  list.mutable_scope()->set_unit_code("D1");
  list.mutable_scope()->set_include_descendants(true);
  list.set_as_of("2025-03-01");
  grpc::ClientContext ctx;
  v1::ListUnitsResponse units;
  REQUIRE(stub.ListUnits(&ctx, list, &units).ok());
  CHECK(units.units_size() == 3);
  v1::UnitHistory history;
  grpc::ClientContext hctx;
  v1::GetUnitRequest h;
  h.set_code("S2");
  REQUIRE(stub.GetUnitHistory(&hctx, h, &history).ok());
  REQUIRE(history.versions_size() == 2);
  CHECK(history.versions(1).audit().reason() == "boundary change");
}

// Reads the feed until `count` changes arrived or the deadline passes.
std::vector<v1::ReadingChange> Watch(v1::IngestService::Stub& stub, int64_t from, size_t count,
                                     int64_t* last_seq = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::WatchReadingsRequest req;
  req.set_from_seq(from);
  auto reader = stub.WatchReadings(&ctx, req);
  std::vector<v1::ReadingChange> out;
  v1::WatchReadingsResponse page;
  while (out.size() < count && reader->Read(&page)) {
    out.insert(out.end(), page.changes().begin(), page.changes().end());
    if (last_seq != nullptr) *last_seq = page.last_seq();
  }
  ctx.TryCancel();
  reader->Finish();
  return out;
}

TEST_CASE("The feed replays, resumes from a cursor and tails new commits quickly", "[e2e][ingest]") {
  TestDatabase db;
  Ingest ingest(db);
  auto& stub = ingest.stub();
  Send(stub, {Batch("w1", {{"S1", "VOL", "2025-01", 1}, {"S2", "VOL", "2025-01", 2}}),
              Batch("w2", {{"S1", "VOL", "2025-02", 3}})});
  int64_t cursor = 0;
  auto replay = Watch(stub, 0, 3, &cursor);
  REQUIRE(replay.size() == 3);
  CHECK(replay[2].reading().value() == 3);
  CHECK(replay[0].reading().source() == "billing");

  // Tail: a subscriber waiting at the end gets a new commit within a short time.
  grpc::ClientContext ctx;
  v1::WatchReadingsRequest req;
  req.set_from_seq(cursor);
  auto reader = stub.WatchReadings(&ctx, req);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const absl::Time sent = absl::Now();
  Send(stub, {Batch("w3", {{"S2", "VOL", "2025-02", 4}})});
  v1::WatchReadingsResponse page;
  while (reader->Read(&page) && page.changes().empty()) {
  }
  const absl::Duration delay = absl::Now() - sent;
  REQUIRE(page.changes_size() == 1);
  CHECK(page.changes(0).reading().value() == 4);
  CHECK(page.changes(0).seq() > cursor);
  CHECK(delay < absl::Seconds(2));
  ctx.TryCancel();
  reader->Finish();

  auto resumed = Watch(stub, replay[0].seq(), 3);
  REQUIRE(resumed.size() == 3);
  CHECK(resumed[0].seq() == replay[1].seq());
}

TEST_CASE("SIGKILL in the middle of a bulk stream loses nothing and doubles nothing", "[e2e][ingest]") {
  TestDatabase db;
  // 200 batches of 10 rows, each row a distinct (unit, day) of a daily indicator.
  const char* units[] = {"P", "C1", "D1", "S1", "S2"};
  std::vector<v1::ReadingBatch> batches;
  for (int b = 0; b < 200; ++b) {
    std::vector<aw::testing::Row> rows;
    for (int i = 0; i < 10; ++i) {
      const int n = b * 10 + i;
      rows.emplace_back(units[n % 5], "DAILY",
                        absl::FormatCivilTime(absl::CivilDay(2025, 1, 1) + n / 5), n);
    }
    batches.push_back(Batch(absl::StrCat("k", b), rows));
  }
  std::set<std::string> acked;
  {
    auto ingest = std::make_unique<Ingest>(db);
    ingest->Indicator("DAILY", v1::ROLLUP_RULE_SUM, "kWh", 0, 1e6, {v1::PERIOD_TYPE_DAY});
    grpc::ClientContext ctx;
    auto stream = ingest->stub().IngestReadings(&ctx);
    std::thread writer([&] {
      for (const auto& b : batches) {
        if (!stream->Write(b)) break;
      }
    });
    v1::BatchResult r;
    while (stream->Read(&r)) {
      acked.insert(r.batch_id());
      if (acked.size() == 40) ingest->process().Stop(SIGKILL);  // crash mid-stream
    }
    writer.join();
    stream->Finish();
  }
  REQUIRE(acked.size() >= 40);
  REQUIRE(acked.size() < batches.size());
  // Restart and re-send everything not acknowledged (and, to be sure, some that were).
  AuditwatchProcess restarted("ingest", db.url());
  REQUIRE(WaitForHealth(restarted.address("ingest"), "", "SERVING") == "SERVING");
  auto stub = v1::IngestService::NewStub(restarted.Channel("ingest"));
  std::vector<v1::ReadingBatch> resend;
  for (const auto& b : batches) {
    if (!acked.contains(b.batch_id()) || b.batch_id() == "k0") resend.push_back(b);
  }
  auto results = Send(*stub, resend);
  REQUIRE(results.size() == resend.size());
  CHECK(results[0].duplicate());  // k0 was acknowledged before the crash
  for (const auto& r : results) CHECK(r.accepted() == 10);
  CHECK(db.Query("SELECT count(*) FROM ingest.reading_versions") == "2000");
  CHECK(db.Query("SELECT count(*) FROM (SELECT DISTINCT unit_id, indicator_id, period_start FROM ingest.reading_versions) k") == "2000");
  CHECK(db.Query("SELECT count(*) FROM ingest.batches") == "200");
}

TEST_CASE("A drain answers every batch a bulk stream committed, then ends the stream", "[e2e][ingest]") {
  TestDatabase db;
  Ingest ingest(db, {"--drain_timeout=10s"});
  grpc::ClientContext ctx;
  auto stream = ingest.stub().IngestReadings(&ctx);
  // At most 8 batches without an answer, as a client that re-sends them would keep.
  absl::Mutex mu;
  int sent = 0, answered = 0;
  bool writing = true;
  std::thread writer([&] {
    // The same keys in every batch: each batch adds versions, all valid.
    for (int b = 0;; ++b) {
      {
        absl::MutexLock lock(&mu);
        auto room = [&] { return !writing || sent - answered < 8; };
        mu.Await(absl::Condition(&room));
        if (!writing) break;
        ++sent;
      }
      if (!stream->Write(Batch(absl::StrCat("d", b), {{"S1", "VOL", "2025-01", b}, {"S2", "VOL", "2025-01", b}}))) break;
    }
  });
  std::set<std::string> acked;
  v1::BatchResult r;
  while (stream->Read(&r)) {
    acked.insert(r.batch_id());
    {
      absl::MutexLock lock(&mu);
      ++answered;
    }
    if (acked.size() == 50) ingest.process().Signal(SIGTERM);  // drain while batches keep coming
  }
  {
    absl::MutexLock lock(&mu);
    writing = false;
  }
  writer.join();
  const grpc::Status ended = stream->Finish();
  CHECK(ended.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(ended.error_message().find("re-send") != std::string::npos);
  CHECK(ingest.process().WaitExit(absl::Seconds(30)) == 0);
  // Every batch that was committed was answered: the re-sent ones will be duplicates.
  std::string acked_ids;
  for (const std::string& id : acked) absl::StrAppend(&acked_ids, acked_ids.empty() ? "" : ",", id);
  CHECK(db.Query("SELECT string_agg(client_batch_id, ',' ORDER BY client_batch_id COLLATE \"C\") "
                 "FROM ingest.batches") == acked_ids);
}

TEST_CASE("After many heavy queries and idle streams close, the process gives its memory back",
          "[e2e][ingest]") {
  TestDatabase db;
  AuditwatchProcess process("ingest", db.url(), {"--workers=4"});
  REQUIRE(WaitForHealth(process.address("ingest"), "", "SERVING") == "SERVING");
  const MemoryFigures f = RunMemoryLoad(process, 100000, /*queries=*/300, /*streams=*/50, false);
  INFO("resident KiB: idle " << f.idle_kib << ", peak " << f.peak_kib << ", after " << f.after_kib);
  REQUIRE(f.loaded >= 100000);
  CHECK(f.streams == 50);
  CHECK(f.queries_ok + f.queries_busy == 300);
  CHECK(f.queries_ok >= 250);
  CHECK(f.after_kib < f.idle_kib * 3 / 2);
}

TEST_CASE("Pull bindings are managed and run over gRPC against a configured data source",
          "[e2e][ingest]") {
  TestDatabase db, reporting;
  reporting.Query("CREATE TABLE q (unit_code text, month text, v double precision);"
                  "INSERT INTO q VALUES ('S1', '2025-06', 41), ('S2', '2025-06', 42); SELECT 1");
  Ingest ingest(db, {"--data_sources=reporting=" + reporting.url()});
  auto& stub = ingest.stub();
  {
    grpc::ClientContext ctx;
    v1::ListDataSourcesResponse resp;
    REQUIRE(stub.ListDataSources(&ctx, v1::ListDataSourcesRequest(), &resp).ok());
    REQUIRE(resp.sources_size() == 1);
    CHECK(resp.sources(0).name() == "reporting");
    CHECK(resp.sources(0).reachable());
  }
  v1::UpsertPullBindingRequest req;
  v1::PullBinding* b = req.mutable_binding();
  b->set_name("vol-monthly");
  b->set_indicator_code("VOL");
  b->set_data_source("reporting");
  b->set_query("SELECT unit_code, v FROM q WHERE month = $1");
  b->set_period_type(v1::PERIOD_TYPE_MONTH);
  b->set_run_day_offset(3);
  b->set_run_time("02:00");
  b->set_enabled(true);
  req.set_actor("tester");
  {
    grpc::ClientContext ctx;
    v1::PullBinding out;
    REQUIRE(stub.UpsertPullBinding(&ctx, req, &out).ok());
    CHECK(out.next_run_at().seconds() > absl::ToUnixSeconds(absl::Now()) - 40 * 86400);
  }
  {
    b->set_data_source("elsewhere");
    grpc::ClientContext ctx;
    v1::PullBinding out;
    const grpc::Status s = stub.UpsertPullBinding(&ctx, req, &out);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("binding.data_source") == 0);
  }
  v1::RunPullRequest run;
  run.set_binding("vol-monthly");
  run.mutable_period()->set_key("2025-06");
  run.set_actor("operator");
  {
    grpc::ClientContext ctx;
    v1::PullRun out;
    REQUIRE(stub.RunPull(&ctx, run, &out).ok());
    CHECK(out.state() == v1::PULL_RUN_STATE_SUCCEEDED);
    CHECK(out.rows() == 2);
  }
  {
    grpc::ClientContext ctx;
    v1::ListPullRunsResponse runs;
    v1::ListPullRunsRequest list;
    list.set_binding("vol-monthly");
    REQUIRE(stub.ListPullRuns(&ctx, list, &runs).ok());
    REQUIRE(runs.runs_size() == 1);
    CHECK(runs.page().total_size() == 1);
  }
  v1::ReadingHistory history;
  grpc::ClientContext ctx;
  REQUIRE(stub.GetReadingHistory(&ctx, Key("S2", "VOL", "2025-06"), &history).ok());
  REQUIRE(history.versions_size() == 1);
  CHECK(history.versions(0).source() == "pull:vol-monthly");
  CHECK(history.versions(0).value() == 42);
}

}  // namespace
}  // namespace aw::testing
