#include "services/monitor/evaluator.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/period.h"
#include "services/monitor/monitor_metrics.h"

namespace aw::monitor {
namespace {

constexpr int64_t kLeaderLock = 443438852;
}  // namespace

const char Evaluator::kFeed[] = "ingest.readings";

namespace {
constexpr size_t kMaxUpdatesPerCommit = 2000;

std::string SeriesKey(const std::string& indicator, const std::string& unit, int period_type) {
  return absl::StrCat(indicator, "\x1f", unit, "\x1f", period_type);
}
std::string RuleKey(const std::string& indicator, int period_type) {
  return absl::StrCat(indicator, "\x1f", period_type);
}
int64_t DayNumber(const Period& p) { return p.first_day() - absl::CivilDay(); }

const char* ChangeName(Change c) {
  switch (c) {
    case Change::kOpen: return "opened";
    case Change::kEscalate: return "escalated";
    case Change::kDeescalate: return "de-escalated";
    case Change::kResolve: return "resolved";
    default: return "none";
  }
}

}  // namespace

Evaluator::Evaluator(MonitorStore* store, Directory* directory, MonitorMetrics* metrics,
                     std::string database_url)
    : store_(store), directory_(directory), metrics_(metrics), database_url_(std::move(database_url)) {}

Evaluator::~Evaluator() { Stop(); }

void Evaluator::Start() { thread_ = std::thread([this] { Loop(); }); }

void Evaluator::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  {
    absl::MutexLock lock(&mu_);
    if (stream_ != nullptr) stream_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void Evaluator::Loop() {
  auto log = Logger("monitor");
  while (!stop_.HasBeenNotified()) {
    try {
      pqxx::connection lock_conn(database_url_);
      pqxx::nontransaction tx(lock_conn);
      const bool won = tx.exec_params1("SELECT pg_try_advisory_lock($1)", kLeaderLock)[0].as<bool>();
      if (won) {
        leader_ = true;
        metrics_->leader.Set(1);
        log->info("evaluator: this process now evaluates the readings feed");
        const absl::Status s = Lead();
        leader_ = false;
        metrics_->leader.Set(0);
        if (!s.ok() && !stop_.HasBeenNotified()) log->warn("evaluator stopped: {}", s.ToString());
      }
    } catch (const std::exception& e) {
      log->warn("evaluator: database: {}", e.what());
    }
    stop_.WaitForNotificationWithTimeout(absl::Seconds(1));
  }
}

// Rebuilds the projection by replaying the feed up to the cursor, then judges
// every new value, until the stream ends or the evaluator stops.
absl::Status Evaluator::Lead() {
  projection_.clear();
  open_.clear();
  rules_version_ = -1;
  auto cursor = store_->Cursor(kFeed);
  if (!cursor.ok()) return cursor.status();
  cursor_ = *cursor;
  auto open = store_->OpenEvents();
  if (!open.ok()) return open.status();
  for (auto& [key, event] : *open) open_[key] = event;

  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    if (stop_.HasBeenNotified()) return absl::CancelledError("stopping");
    stream_ = &ctx;
  }
  v1::WatchReadingsRequest request;  // from 0: the projection is rebuilt on the way
  auto reader = directory_->ingest().WatchReadings(&ctx, request);
  const int64_t replay_until = cursor_;
  v1::WatchReadingsResponse page;
  absl::Status status;
  bool synced = false;
  while (reader->Read(&page)) {
    if (!synced && page.last_seq() >= replay_until) {
      status = SyncRules(true);
      if (!status.ok()) break;
      synced = true;
    }
    status = Handle(page, replay_until);
    if (!status.ok()) break;
  }
  ctx.TryCancel();
  const grpc::Status end = reader->Finish();
  {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
  }
  if (!status.ok()) return status;
  return absl::UnavailableError(absl::StrCat("readings feed ended: ", end.error_message()));
}

absl::Status Evaluator::SyncRules(bool force) {
  auto version = store_->RulesVersion();
  if (!version.ok()) return version.status();
  if (!force && *version == rules_version_) return absl::OkStatus();
  auto rules = store_->ListRules(true);
  if (!rules.ok()) return rules.status();
  auto dir = directory_->Refresh();
  if (!dir.ok()) return dir.status();

  // Judge every value again under the new rule set: a new or changed rule
  // sees the history, and events of a disabled or deleted rule resolve.
  std::vector<v1::Rule> enabled;
  int on = 0, off = 0;
  for (auto& r : *rules) {
    (r.enabled() ? on : off)++;
    if (r.enabled()) enabled.push_back(std::move(r));
  }
  metrics_->rules.Add({{"service", "monitor"}, {"state", "enabled"}}).Set(on);
  metrics_->rules.Add({{"service", "monitor"}, {"state", "disabled"}}).Set(off);
  rules_ = std::move(enabled);
  rules_by_series_.clear();
  for (size_t i = 0; i < rules_.size(); ++i) {
    for (const std::string& code : rules_[i].indicator_codes()) {
      rules_by_series_[RuleKey(code, rules_[i].period_type())].push_back(i);
    }
  }
  rules_version_ = *version;

  std::vector<EventUpdate> updates;
  absl::flat_hash_map<std::string, bool> judged;
  size_t visited = 0;
  for (const auto& [key, series] : projection_) {
    if (++visited % 4096 == 0 && stop_.HasBeenNotified()) return absl::CancelledError("stopping");
    const size_t a = key.find('\x1f'), b = key.rfind('\x1f');
    const std::string indicator = key.substr(0, a), unit = key.substr(a + 1, b - a - 1);
    const int type = std::stoi(key.substr(b + 1));
    auto it = rules_by_series_.find(RuleKey(indicator, type));
    if (it == rules_by_series_.end()) continue;
    const IndicatorFacts* facts = (*dir)->Indicator(indicator);
    if (facts == nullptr) continue;
    for (const auto& [day, value] : series) {
      const Period period = Period::Containing(static_cast<PeriodType>(type), absl::CivilDay() + day);
      for (size_t r : it->second) {
        if (!IsValueRule(rules_[r].kind())) continue;  // timer rules judge themselves
        judged[EventKey(rules_[r].code(), unit, period.key())] = true;
        Judge(rules_[r], **dir, unit, *facts, period, 0, updates);
      }
    }
  }
  for (const auto& [key, event] : open_) {
    if (judged.contains(key)) continue;
    const std::string rule = key.substr(0, key.find('\x1f'));
    const bool live = std::any_of(rules_.begin(), rules_.end(), [&](const auto& r) { return r.code() == rule; });
    if (live) continue;
    EventUpdate u;
    u.change = Change::kResolve;
    u.event_id = event.id;
    u.verdict.message = "the rule was disabled or changed so that it no longer applies";
    updates.push_back(std::move(u));
  }
  if (absl::Status s = Commit(updates, cursor_); !s.ok()) return s;
  return store_->SetAppliedRulesVersion(rules_version_);
}

bool Evaluator::Whitelisted(const v1::Rule& rule, const DirectorySnapshot& dir, const std::string& unit,
                            const std::string& indicator) const {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  for (const auto& w : whitelist_) {
    if (w.revoked() || w.frozen_from().seconds() > now || w.frozen_until().seconds() <= now) continue;
    if (!w.rule_code().empty() ? w.rule_code() != rule.code() : w.theme_code() != rule.theme_code()) continue;
    if (!dir.InScope(unit, w.scope().unit_code(), w.scope().include_descendants())) continue;
    if (!w.subject().empty() && w.subject() != indicator) continue;
    return true;
  }
  return false;
}

void Evaluator::Judge(const v1::Rule& rule, const DirectorySnapshot& dir, const std::string& unit,
                      const IndicatorFacts& indicator, const Period& period, int64_t cause_seq,
                      std::vector<EventUpdate>& updates) {
  const UnitFacts* u = dir.Unit(unit);
  if (!rule.scope().unit_code().empty() &&
      !dir.InScope(unit, rule.scope().unit_code(), rule.scope().include_descendants())) {
    return;
  }
  const bool type_applies = rule.unit_types().empty() ||
                            (u != nullptr && std::find(rule.unit_types().begin(), rule.unit_types().end(),
                                                       u->type) != rule.unit_types().end());
  if (rule.kind() == v1::RULE_KIND_QUALITY_CONSISTENCY) return;  // judged on timers
  Verdict verdict;
  if (rule.kind() == v1::RULE_KIND_QUALITY_APPLICABILITY) {
    if (!type_applies) {
      verdict.level = rule.levels(0).level();
      verdict.message = absl::StrCat(unit, " reports ", indicator.code, ", which does not apply to a ",
                                     u != nullptr ? v1::UnitType_Name(u->type) : "unit of unknown type");
    }
  } else if (rule.kind() == v1::RULE_KIND_MISSING) {
    verdict.message = "the value was reported";  // a reported value resolves a missing event
  } else {
    if (!type_applies) return;
    const Series& series = projection_[SeriesKey(indicator.code, unit, static_cast<int>(period.type()))];
    std::vector<std::optional<double>> values;
    const int history = HistoryNeeded(rule);
    for (int i = history; i >= 0; --i) {
      auto it = series.find(DayNumber(period.Shift(-i)));
      values.push_back(it == series.end() ? std::nullopt : std::optional<double>(it->second));
    }
    verdict = Evaluate(rule, indicator.direction, values);
    metrics_->evaluations.Increment();
  }
  const std::string key = EventKey(rule.code(), unit, period.key());
  auto open = open_.find(key);
  const Change change = NextChange(open != open_.end(), open == open_.end() ? 0 : open->second.level, verdict.level);
  if (change == Change::kNone) return;
  EventUpdate up;
  up.change = change;
  up.event_id = open == open_.end() ? 0 : open->second.id;
  up.rule_code = rule.code();
  up.theme_code = rule.theme_code();
  up.unit_code = unit;
  up.period_key = period.key();
  up.indicator_code = indicator.code;
  up.verdict = verdict;
  up.cause_seq = cause_seq;
  up.suppressed = change == Change::kOpen && Whitelisted(rule, dir, unit, indicator.code);
  // Keep the in-memory view in step so later values in the same page see it.
  if (change == Change::kResolve) {
    open_.erase(open);
  } else if (change == Change::kOpen) {
    open_[key] = OpenEvent{0, verdict.level};  // id filled in after the commit
  } else {
    open->second.level = verdict.level;
  }
  updates.push_back(std::move(up));
}

absl::Status Evaluator::Commit(std::vector<EventUpdate>& updates, int64_t to) {
  const int64_t from = cursor_;
  size_t start = 0;
  do {
    // Stop between chunks: nothing is lost, the cursor moves with the last one.
    if (stop_.HasBeenNotified()) return absl::CancelledError("stopping");
    const size_t end = std::min(updates.size(), start + kMaxUpdatesPerCommit);
    std::vector<EventUpdate> chunk(std::make_move_iterator(updates.begin() + start),
                                   std::make_move_iterator(updates.begin() + end));
    const bool last = end == updates.size();
    auto opened = store_->Apply(chunk, last && to != from ? kFeed : "", from, to);
    if (!opened.ok()) return opened.status();
    size_t next_id = 0;
    for (const EventUpdate& u : chunk) {
      metrics_->Event(u.change == Change::kOpen && u.suppressed ? "suppressed" : ChangeName(u.change),
                      u.verdict.level);
      if (u.change == Change::kOpen) {
        const int64_t id = (*opened)[next_id++];
        auto it = open_.find(EventKey(u.rule_code, u.unit_code, u.period_key));
        if (it != open_.end()) it->second.id = id;
      }
    }
    start = end;
  } while (start < updates.size());
  cursor_ = to;
  return absl::OkStatus();
}

absl::Status Evaluator::Handle(const v1::WatchReadingsResponse& page, int64_t replay_until) {
  // Project every value; judge only those past the cursor.
  struct Touched {
    std::string unit, indicator;
    Period period;
    int64_t seq;
  };
  std::vector<Touched> touched;
  for (const v1::ReadingChange& c : page.changes()) {
    const v1::Reading& r = c.reading();
    auto period = Period::Parse(r.key().period().key());
    if (!period.ok()) continue;
    projection_[SeriesKey(r.key().indicator_code(), r.key().unit_code(), static_cast<int>(period->type()))]
               [DayNumber(*period)] = r.value();
    if (c.seq() > replay_until) touched.push_back({r.key().unit_code(), r.key().indicator_code(), *period, c.seq()});
  }
  if (page.last_seq() <= replay_until) {
    cursor_ = std::min(page.last_seq(), replay_until);
    return absl::OkStatus();  // still rebuilding the projection
  }
  if (absl::Status s = SyncRules(false); !s.ok()) return s;
  // Missing-value events are opened by timers (on any replica): refresh them
  // before judging values they may be waiting for, so the arrival resolves them.
  bool touches_missing = false;
  for (const Touched& t : touched) {
    auto it = rules_by_series_.find(RuleKey(t.indicator, static_cast<int>(t.period.type())));
    if (it == rules_by_series_.end()) continue;
    for (size_t r : it->second) touches_missing |= rules_[r].kind() == v1::RULE_KIND_MISSING;
    if (touches_missing) break;
  }
  if (touches_missing || absl::Now() - last_missing_sync_ > absl::Seconds(10)) {
    last_missing_sync_ = absl::Now();
    std::vector<std::string> missing_rules;
    for (const auto& r : rules_) {
      if (r.kind() == v1::RULE_KIND_MISSING) missing_rules.push_back(r.code());
    }
    auto open = store_->OpenEventsOfRules(missing_rules);
    if (!open.ok()) return open.status();
    for (auto it = open_.begin(); it != open_.end();) {
      const std::string rule = it->first.substr(0, it->first.find('\x1f'));
      const bool missing_rule = std::find(missing_rules.begin(), missing_rules.end(), rule) != missing_rules.end();
      if (missing_rule) {
        open_.erase(it++);
      } else {
        ++it;
      }
    }
    for (auto& [key, event] : *open) open_[key] = event;
  }
  std::vector<EventUpdate> updates;
  if (!touched.empty()) {
    auto dir = directory_->Get();
    if (!dir.ok()) return dir.status();
    bool refreshed = false;
    auto wl = store_->Whitelist(false);
    if (!wl.ok()) return wl.status();
    whitelist_ = *std::move(wl);
    for (const Touched& t : touched) {
      auto it = rules_by_series_.find(RuleKey(t.indicator, static_cast<int>(t.period.type())));
      if (it == rules_by_series_.end()) continue;
      if (((*dir)->Unit(t.unit) == nullptr || (*dir)->Indicator(t.indicator) == nullptr) && !refreshed) {
        refreshed = true;  // a unit or indicator newer than the snapshot
        dir = directory_->Refresh();
        if (!dir.ok()) return dir.status();
      }
      const IndicatorFacts* facts = (*dir)->Indicator(t.indicator);
      if (facts == nullptr) continue;
      for (size_t r : it->second) {
        const v1::Rule& rule = rules_[r];
        // A value also changes the verdicts of the periods after it that look back at it.
        const int ahead = HistoryNeeded(rule);
        for (int i = 0; i <= ahead; ++i) {
          const Period p = t.period.Shift(i);
          if (i > 0 && !projection_[SeriesKey(t.indicator, t.unit, static_cast<int>(p.type()))].contains(DayNumber(p))) {
            continue;
          }
          Judge(rule, **dir, t.unit, *facts, p, t.seq, updates);
        }
      }
    }
  }
  if (absl::Status s = Commit(updates, page.last_seq()); !s.ok()) return s;
  if (!page.changes().empty()) {
    const auto& last = page.changes(page.changes_size() - 1).reading().recorded_at();
    metrics_->feed_lag_seconds.Set(absl::ToDoubleSeconds(
        absl::Now() - absl::FromUnixSeconds(last.seconds()) - absl::Nanoseconds(last.nanos())));
  }
  // Whitelist entries that expired: reopen what they suppressed.
  if (absl::Now() - last_sweep_ > absl::Seconds(1)) {
    last_sweep_ = absl::Now();
    auto dir = directory_->Get();
    if (!dir.ok()) return dir.status();
    auto wl = store_->Whitelist(false);
    if (!wl.ok()) return wl.status();
    whitelist_ = *std::move(wl);
    auto rules = rules_;
    auto reopened = store_->ReopenExpired(
        [&](const v1::WarningEvent& e, const v1::WhitelistEntry& w) {
          const bool rule_hit = !w.rule_code().empty() ? w.rule_code() == e.rule_code() : w.theme_code() == e.theme_code();
          return rule_hit && (*dir)->InScope(e.unit_code(), w.scope().unit_code(), w.scope().include_descendants()) &&
                 (w.subject().empty() || w.subject() == e.indicator_code());
        },
        [&](const v1::WarningEvent& e) {
          for (const auto& r : rules) {
            if (r.code() == e.rule_code()) return Whitelisted(r, **dir, e.unit_code(), e.indicator_code());
          }
          return false;
        });
    if (!reopened.ok()) return reopened.status();
    for (const auto& e : *reopened) metrics_->Event("reopened", e.level());
  }
  return absl::OkStatus();
}

}  // namespace aw::monitor
