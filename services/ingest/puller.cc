#include "services/ingest/puller.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/pg_arrays.h"
#include "common/status.h"
#include "common/worker_pool.h"

namespace aw::ingest {
namespace {

constexpr char kUpsertBindingSql[] = R"sql(
INSERT INTO pull_bindings (name, indicator_code, data_source, query, period_type, run_day_offset,
                           run_time, enabled, next_period, next_run_at, actor, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7::time, $8, $9, to_timestamp($10), $11, $12)
ON CONFLICT (name) DO UPDATE SET
  indicator_code = excluded.indicator_code, data_source = excluded.data_source,
  query = excluded.query, run_day_offset = excluded.run_day_offset, run_time = excluded.run_time,
  enabled = excluded.enabled, actor = excluded.actor, reason = excluded.reason,
  -- a new period type restarts the schedule; otherwise the next period stays
  next_period = CASE WHEN pull_bindings.period_type = excluded.period_type
                     THEN pull_bindings.next_period ELSE excluded.next_period END,
  period_type = excluded.period_type,
  revision = pull_bindings.revision + 1, updated_at = now()
RETURNING next_period)sql";
constexpr char kSetNextRunSql[] =
    "UPDATE pull_bindings SET next_run_at = to_timestamp($2) WHERE name = $1";

constexpr char kBindingColumns[] = R"sql(
  name, indicator_code, data_source, query, period_type, run_day_offset, to_char(run_time, 'HH24:MI'),
  enabled, next_period, extract(epoch FROM next_run_at)::float8, revision, actor, reason,
  extract(epoch FROM created_at)::float8, extract(epoch FROM updated_at)::float8)sql";

constexpr char kClaimDueSql[] = R"sql(
SELECT name, indicator_code, data_source, query, period_type, run_day_offset, to_char(run_time, 'HH24:MI'),
       enabled, next_period
FROM pull_bindings WHERE enabled AND next_run_at <= now()
ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED)sql";
constexpr char kAdvanceSql[] =
    "UPDATE pull_bindings SET next_period = $2, next_run_at = to_timestamp($3) WHERE name = $1";
constexpr char kRecordRunSql[] = R"sql(
INSERT INTO pull_runs (binding, period, state, started_at, finished_at, rows, rejected, errors, error, actor)
VALUES ($1, $2, $3, to_timestamp($4), to_timestamp($5), $6, $7, $8, $9, $10) RETURNING id)sql";
constexpr char kListRunsSql[] = R"sql(
SELECT id, binding, period, state, extract(epoch FROM started_at)::float8,
       extract(epoch FROM finished_at)::float8, rows, rejected, errors, error, count(*) OVER ()
FROM pull_runs WHERE $1 = '' OR binding = $1 ORDER BY id DESC OFFSET $2 LIMIT $3)sql";

// The highest $N parameter a query refers to (PostgreSQL wants exactly as many).
int MaxParameter(const std::string& query) {
  int max = 0;
  for (size_t i = 0; i + 1 < query.size(); ++i) {
    if (query[i] != '$' || !std::isdigit(static_cast<unsigned char>(query[i + 1]))) continue;
    int n = 0;
    size_t j = i + 1;
    while (j < query.size() && std::isdigit(static_cast<unsigned char>(query[j]))) n = n * 10 + (query[j++] - '0');
    max = std::max(max, n);
  }
  return max;
}


v1::PullBinding BindingFromRow(const pqxx::row& r) {
  v1::PullBinding b;
  b.set_name(r[0].as<std::string>());
  b.set_indicator_code(r[1].as<std::string>());
  b.set_data_source(r[2].as<std::string>());
  b.set_query(r[3].as<std::string>());
  b.set_period_type(static_cast<v1::PeriodType>(r[4].as<int>()));
  b.set_run_day_offset(r[5].as<int>());
  b.set_run_time(r[6].as<std::string>());
  b.set_enabled(r[7].as<bool>());
  db::SetTimestamp(r[9].as<double>(), b.mutable_next_run_at());
  auto* audit = b.mutable_audit();
  audit->set_version(r[10].as<int64_t>());
  audit->set_updated_by(r[11].as<std::string>());
  audit->set_reason(r[12].as<std::string>());
  db::SetTimestamp(r[13].as<double>(), audit->mutable_created_at());
  db::SetTimestamp(r[14].as<double>(), audit->mutable_updated_at());
  return b;
}

}  // namespace

struct Puller::Binding {
  std::string name, indicator_code, data_source, query;
  PeriodType period_type;
  int run_day_offset;
  absl::Duration run_time;
  std::string next_period;
};

Puller::Puller(IngestStore* store, std::map<std::string, std::string> data_sources,
               IngestMetrics* metrics, absl::Duration interval)
    : store_(store), data_sources_(std::move(data_sources)), metrics_(metrics), interval_(interval) {}

Puller::~Puller() { Stop(); }

void Puller::Start() {
  thread_ = NamedThread("aw-puller", [this] {
    auto log = Logger("ingest");
    while (!stop_.WaitForNotificationWithTimeout(interval_)) {
      auto ran = RunDue();
      if (!ran.ok()) log->warn("scheduled pulls: {}", ran.status().ToString());
    }
  });
}

void Puller::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

std::vector<v1::DataSource> Puller::DataSources() {
  std::vector<v1::DataSource> out;
  for (const auto& [name, url] : data_sources_) {
    v1::DataSource& ds = out.emplace_back();
    ds.set_name(name);
    try {
      pqxx::connection c(url);
      ds.set_reachable(c.is_open());
    } catch (const std::exception&) {
      ds.set_reachable(false);
    }
  }
  return out;
}

absl::StatusOr<v1::PullBinding> Puller::Upsert(const v1::UpsertPullBindingRequest& req) {
  const v1::PullBinding& b = req.binding();
  if (b.name().empty() || b.name().size() > 64) return InvalidField("binding.name", "required, at most 64 characters");
  if (req.actor().empty()) return InvalidField("actor", "required");
  if (!data_sources_.contains(b.data_source())) {
    std::string known;
    for (const auto& [name, url] : data_sources_) absl::StrAppend(&known, known.empty() ? "" : ", ", name);
    return InvalidField("binding.data_source",
                        absl::StrCat("no data source \"", b.data_source(), "\" is configured (",
                                     known.empty() ? "none are" : "configured: " + known,
                                     "; see --data_sources)"));
  }
  const std::string q(absl::StripAsciiWhitespace(b.query()));
  if (!absl::StartsWithIgnoreCase(q, "select") && !absl::StartsWithIgnoreCase(q, "with")) {
    return InvalidField("binding.query", "a SELECT (or WITH … SELECT) returning unit_code, value");
  }
  if (MaxParameter(q) > 3) {
    return InvalidField("binding.query", "only $1 (period key), $2 (first day) and $3 (last day) exist");
  }
  if (b.period_type() < v1::PERIOD_TYPE_DAY || b.period_type() > v1::PERIOD_TYPE_YEAR) {
    return InvalidField("binding.period_type", "must be set");
  }
  if (b.run_day_offset() < 0 || b.run_day_offset() > 366) return InvalidField("binding.run_day_offset", "0..366");
  auto time_of_day = ParseTimeOfDay(b.run_time().empty() ? "02:00" : b.run_time());
  if (!time_of_day.ok()) return InvalidField("binding.run_time", time_of_day.status().message());
  AW_ASSIGN_OR_RETURN(auto catalogue, store_->GetCatalogue());
  const IndicatorInfo* indicator = catalogue->FindIndicator(b.indicator_code());
  if (indicator == nullptr) {
    return absl::NotFoundError(absl::StrCat("binding.indicator_code: no indicator ", b.indicator_code()));
  }
  const v1::Indicator& def = indicator->versions.back();
  if (def.kind() != v1::INDICATOR_KIND_SYSTEM) {
    return InvalidField("binding.indicator_code",
                        absl::StrCat(b.indicator_code(), " is entered by hand, not computed by a system"));
  }
  if (std::find(def.allowed_period_types().begin(), def.allowed_period_types().end(),
                b.period_type()) == def.allowed_period_types().end()) {
    return InvalidField("binding.period_type",
                        absl::StrCat(b.indicator_code(), " is not reported per ",
                                     PeriodTypeName(static_cast<PeriodType>(b.period_type()))));
  }
  const Period first = FirstPullPeriod(static_cast<PeriodType>(b.period_type()), absl::Now());
  const std::string run_time = b.run_time().empty() ? "02:00" : b.run_time();
  v1::PullBinding out;
  AW_RETURN_IF_ERROR(store_->pool()->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    const std::string next_key =
        tx.exec_params1(kUpsertBindingSql, b.name(), b.indicator_code(), b.data_source(), q,
                        static_cast<int>(b.period_type()), b.run_day_offset(),
                        run_time,
                        b.enabled(), first.key(),
                        absl::ToDoubleSeconds(PullDueTime(first, b.run_day_offset(), *time_of_day) - absl::UnixEpoch()),
                        req.actor(), req.reason())[0]
            .as<std::string>();
    const Period next = *Period::Parse(next_key);
    tx.exec_params(kSetNextRunSql, b.name(),
                   absl::ToDoubleSeconds(PullDueTime(next, b.run_day_offset(), *time_of_day) - absl::UnixEpoch()));
    out = BindingFromRow(tx.exec_params1(absl::StrCat("SELECT ", kBindingColumns,
                                                      " FROM pull_bindings WHERE name = $1"),
                                         b.name()));
    tx.commit();
    return absl::OkStatus();
  }));
  return out;
}

absl::Status Puller::List(int64_t offset, int limit, std::vector<v1::PullBinding>* out, int64_t* total) {
  return store_->pool()->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    *total = tx.exec1("SELECT count(*) FROM pull_bindings")[0].as<int64_t>();
    for (const auto& r : tx.exec_params(absl::StrCat("SELECT ", kBindingColumns,
                                                     " FROM pull_bindings ORDER BY name OFFSET $1 LIMIT $2"),
                                        offset, limit)) {
      out->push_back(BindingFromRow(r));
    }
    return absl::OkStatus();
  });
}

absl::Status Puller::ListRuns(const std::string& binding, int64_t offset, int limit,
                              std::vector<v1::PullRun>* out, int64_t* total) {
  *total = 0;
  return store_->pool()->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    for (const auto& r : tx.exec_params(kListRunsSql, binding, offset, limit)) {
      v1::PullRun& run = out->emplace_back();
      run.set_id(r[0].as<int64_t>());
      run.set_binding(r[1].as<std::string>());
      if (auto p = Period::Parse(r[2].as<std::string>()); p.ok()) ToProto(*p, run.mutable_period());
      run.set_state(static_cast<v1::PullRunState>(r[3].as<int>()));
      db::SetTimestamp(r[4].as<double>(), run.mutable_started_at());
      if (!r[5].is_null()) db::SetTimestamp(r[5].as<double>(), run.mutable_finished_at());
      run.set_rows(r[6].as<int>());
      run.set_rejected(r[7].as<int>());
      if (!r[8].is_null()) {
        v1::BatchResult errors;
        if (errors.ParseFromString(pqxx::binarystring(r[8]).str())) {
          *run.mutable_errors() = errors.errors();
        }
      }
      run.set_error(r[9].as<std::string>());
      *total = r[10].as<int64_t>();
    }
    return absl::OkStatus();
  });
}

void Puller::Execute(const Binding& binding, const Period& period, const std::string& batch_id,
                     v1::PullRun* run) {
  run->set_binding(binding.name);
  ToProto(period, run->mutable_period());
  const absl::Time started = absl::Now();
  run->mutable_started_at()->set_seconds(absl::ToUnixSeconds(started));
  v1::ReadingBatch batch;
  batch.set_batch_id(batch_id);
  batch.set_source("pull:" + binding.name);
  try {
    auto it = data_sources_.find(binding.data_source);
    if (it == data_sources_.end()) throw std::runtime_error("data source " + binding.data_source + " is not configured");
    pqxx::connection source(it->second);
    pqxx::transaction<pqxx::read_committed, pqxx::read_only> tx(source);
    tx.exec("SET LOCAL statement_timeout = '60s'");
    const std::vector<std::string> all = {period.key(), absl::FormatCivilTime(period.first_day()),
                                          absl::FormatCivilTime(period.last_day())};
    const std::vector<std::string> params(all.begin(), all.begin() + MaxParameter(binding.query));
    const pqxx::result rows =
        tx.exec_params(binding.query, pqxx::prepare::make_dynamic_params(params));
    if (rows.columns() != 2) {
      throw std::runtime_error(absl::StrCat("the query returns ", rows.columns(),
                                            " columns; it must return unit_code, value"));
    }
    for (const auto& r : rows) {
      v1::ReadingInput* in = batch.add_rows();
      in->set_unit_code(r[0].is_null() ? "" : r[0].as<std::string>());
      in->set_indicator_code(binding.indicator_code);
      ToProto(period, in->mutable_period());
      in->set_value(r[1].is_null() ? std::nan("") : r[1].as<double>());
      in->set_entered_by("pull:" + binding.name);
    }
  } catch (const std::exception& e) {
    run->set_state(v1::PULL_RUN_STATE_FAILED);
    run->set_error(absl::StrCat("data source ", binding.data_source, ": ", e.what()));
  }
  if (run->state() != v1::PULL_RUN_STATE_FAILED) {
    auto result = store_->IngestBatch(batch);
    if (!result.ok()) {
      run->set_state(v1::PULL_RUN_STATE_FAILED);
      run->set_error(absl::StrCat("ingest: ", result.status().message()));
    } else {
      run->set_rows(result->accepted());
      run->set_rejected(result->rejected());
      *run->mutable_errors() = result->errors();
      run->set_state(result->rejected() > 0 ? v1::PULL_RUN_STATE_PARTIAL : v1::PULL_RUN_STATE_SUCCEEDED);
      if (!result->duplicate()) metrics_->CountRows(batch.source(), *result);
    }
  }
  run->mutable_finished_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  metrics_->pull_runs
      .Add({{"service", "ingest"},
            {"result", run->state() == v1::PULL_RUN_STATE_FAILED    ? "failed"
                       : run->state() == v1::PULL_RUN_STATE_PARTIAL ? "partial"
                                                                    : "succeeded"}})
      .Increment();
}

namespace {

void RecordRun(pqxx::transaction_base& tx, v1::PullRun* run, const std::string& actor) {
  v1::BatchResult errors;
  *errors.mutable_errors() = run->errors();
  run->set_id(tx.exec_params1(kRecordRunSql, run->binding(), run->period().key(),
                              static_cast<int>(run->state()), run->started_at().seconds(),
                              run->finished_at().seconds(), run->rows(), run->rejected(),
                              pqxx::binarystring(errors.SerializeAsString()), run->error(), actor)[0]
                  .as<int64_t>());
}

}  // namespace

absl::StatusOr<v1::PullRun> Puller::RunNow(const std::string& name, const std::string& period_key,
                                           const std::string& actor) {
  if (actor.empty()) return InvalidField("actor", "required");
  Binding binding;
  AW_RETURN_IF_ERROR(store_->pool()->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::read_transaction tx(c);
    const pqxx::result r = tx.exec_params(
        "SELECT name, indicator_code, data_source, query, period_type FROM pull_bindings WHERE name = $1", name);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("binding: no pull binding ", name));
    binding = {r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::string>(),
               r[0][3].as<std::string>(), static_cast<PeriodType>(r[0][4].as<int>()), 0,
               absl::ZeroDuration(), ""};
    return absl::OkStatus();
  }));
  auto period = Period::Parse(binding.period_type, period_key);
  if (!period.ok()) return InvalidField("period", period.status().message());
  v1::PullRun run;
  // A manual run always reads the source again, so it gets its own batch id.
  Execute(binding, *period, absl::StrCat("pull:", name, ":", period->key(), ":manual:",
                                         absl::ToUnixMicros(absl::Now())), &run);
  AW_RETURN_IF_ERROR(store_->pool()->Run([&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    RecordRun(tx, &run, actor);
    tx.commit();
    return absl::OkStatus();
  }));
  return run;
}

absl::StatusOr<int> Puller::RunDue() {
  int ran = 0;
  for (;;) {
    bool claimed = false;
    absl::Status s = store_->pool()->Run([&](pqxx::connection& c) -> absl::Status {
      pqxx::work tx(c);
      const pqxx::result r = tx.exec(kClaimDueSql);
      if (r.empty()) return absl::OkStatus();
      claimed = true;
      Binding b{r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::string>(),
                r[0][3].as<std::string>(), static_cast<PeriodType>(r[0][4].as<int>()), r[0][5].as<int>(),
                *ParseTimeOfDay(r[0][6].as<std::string>()), r[0][8].as<std::string>()};
      auto period = Period::Parse(b.period_type, b.next_period);
      if (!period.ok()) return absl::DataLossError(absl::StrCat("binding ", b.name, ": bad next period"));
      v1::PullRun run;
      // The batch id names binding and period: a pull re-run after a crash
      // between ingest and this commit is applied once.
      Execute(b, *period, absl::StrCat("pull:", b.name, ":", period->key()), &run);
      RecordRun(tx, &run, "scheduler");
      if (run.state() != v1::PULL_RUN_STATE_FAILED) {
        const Period next = period->Next();
        tx.exec_params(kAdvanceSql, b.name, next.key(),
                       absl::ToDoubleSeconds(PullDueTime(next, b.run_day_offset, b.run_time) - absl::UnixEpoch()));
      } else {
        // Retry a failed pull after a pause, for the same period.
        tx.exec_params(kSetNextRunSql, b.name, absl::ToDoubleSeconds(absl::Now() + absl::Minutes(5) - absl::UnixEpoch()));
      }
      tx.commit();
      Logger("ingest")->info("pull {} for {}: {}, {} rows, {} rejected{}", b.name, period->key(),
                             v1::PullRunState_Name(run.state()), run.rows(), run.rejected(),
                             run.error().empty() ? "" : ": " + run.error());
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    if (!claimed) return ran;
    ++ran;
  }
}

}  // namespace aw::ingest
