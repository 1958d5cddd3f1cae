#include "services/monitor/evaluator.h"

#include <unistd.h>

#include <deque>
#include <limits>

#include <google/protobuf/arena.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/timestamp.h"
#include "common/worker_pool.h"
#include "services/monitor/monitor_metrics.h"

namespace aw::monitor {

namespace {

constexpr size_t kMaxUpdatesPerCommit = 2000;
// How long a replica that is not the leader waits before trying again.
constexpr absl::Duration kLeaderRetry = absl::Seconds(1);
// How often the leader asks the database whether it still holds its lock.
constexpr absl::Duration kLeaseCheck = absl::Milliseconds(250);
// How long a new leader waits before it leads: longer than a lost leader
// needs to notice (kLeaseCheck, and the check itself), so that two never
// lead at once.
constexpr absl::Duration kTakeoverGrace = absl::Milliseconds(1500);
// How often expired whitelist entries are looked for.
constexpr absl::Duration kSweepInterval = absl::Seconds(1);

}  // namespace

// Commits the evaluator's changes in queue order on a thread of its own.
class Evaluator::Committer {
 public:
  Committer(MonitorStore* store, MonitorMetrics* metrics, const absl::Notification* stopping, int64_t epoch,
            int64_t position, std::atomic<int64_t>* cursor)
      : store_(store), metrics_(metrics), stopping_(stopping), epoch_(epoch), position_(position), cursor_(cursor) {
    thread_ = NamedThread("aw-ev-commit", [this] { Loop(); });
  }
  // What is queued and not committed is dropped: the cursor has not moved past
  // it, so the next leader judges it again.
  ~Committer() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

  // Waits while the queue is full. Returns the error of a failed commit.
  absl::Status Push(std::vector<EventUpdate> updates, int64_t to, absl::Time newest) {
    absl::MutexLock lock(&mu_);
    const absl::Time from = absl::Now();
    mu_.Await(absl::Condition(this, &Committer::HasRoom));
    waited_ += absl::Now() - from;
    if (!status_.ok()) return status_;
    queued_updates_ += updates.size();
    queue_.push_back({std::move(updates), to, newest});
    return absl::OkStatus();
  }

  // Waits until everything queued is committed.
  absl::Status Flush() {
    absl::MutexLock lock(&mu_);
    const absl::Time from = absl::Now();
    mu_.Await(absl::Condition(this, &Committer::Drained));
    waited_ += absl::Now() - from;
    return status_;
  }

  // How long Push and Flush have waited for the committer, in all.
  absl::Duration waited() {
    absl::MutexLock lock(&mu_);
    return waited_;
  }

 private:
  struct Pending {
    std::vector<EventUpdate> updates;
    int64_t to;
    absl::Time newest;
  };
  static constexpr size_t kMaxQueuedPages = 64;
  static constexpr size_t kMaxQueuedUpdates = 4 * kMaxUpdatesPerCommit;

  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !status_.ok() || (queue_.size() < kMaxQueuedPages && queued_updates_ < kMaxQueuedUpdates);
  }
  bool Drained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !status_.ok() || (queue_.empty() && !busy_); }
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); }

  void Loop() {
    for (;;) {
      Pending batch;
      size_t taken = 0;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &Committer::Ready));
        if (stop_) return;
        // The first page, and those after it that fit in one transaction.
        batch = std::move(queue_.front());
        queue_.pop_front();
        while (!queue_.empty() && batch.updates.size() + queue_.front().updates.size() <= kMaxUpdatesPerCommit) {
          Pending& next = queue_.front();
          batch.updates.insert(batch.updates.end(), std::make_move_iterator(next.updates.begin()),
                               std::make_move_iterator(next.updates.end()));
          batch.to = next.to;
          batch.newest = next.newest;
          queue_.pop_front();
        }
        taken = batch.updates.size();
        busy_ = true;
      }
      const absl::Time started = absl::Now();
      absl::Status s = Commit(batch);
      metrics_->stage_commit.Increment(absl::ToDoubleSeconds(absl::Now() - started));
      absl::MutexLock lock(&mu_);
      busy_ = false;
      queued_updates_ -= std::min(queued_updates_, taken);
      if (!s.ok()) {
        status_ = std::move(s);
        queue_.clear();
        queued_updates_ = 0;
        return;
      }
    }
  }

  // In transactions of at most kMaxUpdatesPerCommit changes; the cursor moves
  // with the last one.
  absl::Status Commit(const Pending& batch) {
    const std::vector<EventUpdate>& updates = batch.updates;
    size_t start = 0;
    do {
      if (stopping_->HasBeenNotified()) return absl::CancelledError("stopping");
      const size_t end = std::min(updates.size(), start + kMaxUpdatesPerCommit);
      const auto chunk = absl::MakeConstSpan(updates).subspan(start, end - start);
      const bool last = end == updates.size();
      const bool move = last && batch.to != position_;
      auto resolved = store_->Apply(chunk, move ? kFeed : "", position_, batch.to, epoch_);
      if (!resolved.ok()) return resolved.status();
      metrics_->Applied(chunk, *resolved);
      if (move) {
        position_ = batch.to;
        *cursor_ = position_;
      }
      start = end;
    } while (start < updates.size());
    if (batch.newest != absl::InfinitePast()) {
      metrics_->feed_lag_seconds.Set(absl::ToDoubleSeconds(absl::Now() - batch.newest));
    }
    return absl::OkStatus();
  }

  MonitorStore* const store_;
  MonitorMetrics* const metrics_;
  const absl::Notification* const stopping_;
  const int64_t epoch_;  // the leadership its commits are fenced by
  int64_t position_;     // the committed cursor; committer thread only
  std::atomic<int64_t>* const cursor_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_updates_ ABSL_GUARDED_BY(mu_) = 0;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  absl::Duration waited_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

void Evaluator::Series::Set(int64_t ordinal, double value) {
  constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  if (values.empty()) {
    first = ordinal;
  } else if (ordinal < first) {
    values.insert(values.begin(), static_cast<size_t>(first - ordinal), kNone);
    first = ordinal;
  }
  const size_t at = static_cast<size_t>(ordinal - first);
  if (at >= values.size()) values.resize(at + 1, kNone);
  values[at] = value;
}

int Evaluator::Names::Id(absl::string_view name) {
  auto it = ids_.find(name);
  if (it != ids_.end()) return it->second;
  const int id = static_cast<int>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(names_.back(), id);
  return id;
}

Evaluator::Evaluator(MonitorStore* store, Directory* directory, MonitorMetrics* metrics, Clock* clock)
    : store_(store), directory_(directory), metrics_(metrics), clock_(clock) {}

Evaluator::~Evaluator() { Stop(); }

void Evaluator::Start() { thread_ = NamedThread("aw-evaluator", [this] { Loop(); }); }

void Evaluator::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  {
    absl::MutexLock lock(&mu_);
    if (feed_ != nullptr) feed_->Stop();
  }
  if (thread_.joinable()) thread_.join();
}

void Evaluator::Loop() {
  auto log = Logger("monitor");
  char host[256] = "";
  gethostname(host, sizeof(host) - 1);
  const std::string holder = absl::StrCat(host, ":", getpid());
  while (!stop_.HasBeenNotified()) {
    // The lease is the leader lock: held while it lives.
    auto lease = store_->TryLeadEvaluator(holder);
    if (!lease.ok()) {
      log->warn("evaluator: database: {}", lease.status().ToString());
    } else if (*lease != nullptr) {
      // A leader that lost its lock notices within kLeaseCheck and stops;
      // wait that out before leading, and check the lock is still ours.
      if (clock_->SleepFor(kTakeoverGrace, stop_)) break;
      if (absl::Status held = (*lease)->Check(); !held.ok()) {
        log->warn("evaluator: lost the leader lock before leading: {}", held.ToString());
      } else {
        const absl::Status s = Lead(**lease);
        if (!s.ok() && !stop_.HasBeenNotified()) log->warn("evaluator stopped: {}", s.ToString());
      }
    }
    clock_->SleepFor(kLeaderRetry, stop_);
  }
}

void Evaluator::StepDown() {
  if (leader_.exchange(false)) metrics_->leader.Set(0);
  absl::MutexLock lock(&mu_);
  if (feed_ != nullptr) feed_->Stop();
}

void Evaluator::Track(const OpenEventRow& row) {
  auto period = Period::Parse(row.period_key);
  if (!period.ok()) return;
  open_[EventId{rule_names_.Id(row.rule_code), units_.Id(row.unit_code), static_cast<int>(period->type()),
                period->Ordinal()}] = row.event;
}

// Rebuilds the projection by replaying the feed up to the cursor, then judges
// every new value, until the stream ends, the lock is lost or the evaluator
// stops.
absl::Status Evaluator::Lead(LeaderLease& lease) {
  auto log = Logger("monitor");
  projection_.clear();
  open_.clear();
  rules_version_ = -1;
  synced_ = false;
  whitelist_seen_ = 0;  // every entry in force is applied once more by a new leader
  epoch_ = lease.epoch();
  // The watchdog: the moment the lock is gone (a database restart ends its
  // session), this process stops leading, before another can take over.
  absl::Notification done;
  std::atomic<bool> lost{false};
  std::thread watchdog = NamedThread("aw-ev-lease", [&] {
    while (!clock_->SleepFor(kLeaseCheck, done)) {
      if (absl::Status held = lease.Check(); !held.ok()) {
        log->warn("evaluator: the leader lock is lost ({}); stepping down", held.ToString());
        lost = true;
        StepDown();
        return;
      }
    }
  });
  absl::Cleanup end_watch = [&] {
    done.Notify();
    watchdog.join();
    if (leader_.exchange(false)) metrics_->leader.Set(0);
  };
  leader_ = true;
  metrics_->leader.Set(1);
  log->info("evaluator: this process now evaluates the readings feed (epoch {})", epoch_);
  auto cursor = store_->Cursor(kFeed);
  if (!cursor.ok()) return cursor.status();
  cursor_ = *cursor;
  auto open = store_->OpenEvents();
  if (!open.ok()) return open.status();
  for (const auto& row : *open) Track(row);

  Committer committer(store_, metrics_, &stop_, epoch_, cursor_, &cursor_);
  committer_ = &committer;
  queued_to_ = cursor_;
  absl::Cleanup forget = [this] { committer_ = nullptr; };

  // From 0: the projection is rebuilt on the way. A broken stream resumes
  // from the last page handled; the projection holds everything before it.
  v1::WatchReadingsRequest request;
  request.set_values_only(true);
  handled_ = 0;
  Subscription feed(
      [this](grpc::ClientContext* ctx, const v1::WatchReadingsRequest& r) {
        return directory_->ingest().WatchReadings(ctx, r);
      },
      request, [this]() -> absl::StatusOr<int64_t> { return handled_; },
      {.name = "evaluator: readings feed",
       .backoff = {.initial = absl::Milliseconds(100), .max = absl::Seconds(1)},
       .clock = clock_});
  {
    absl::MutexLock lock(&mu_);
    if (stop_.HasBeenNotified()) return absl::CancelledError("stopping");
    if (lost) return absl::UnavailableError("the leader lock is lost");
    feed_ = &feed;
  }
  absl::Cleanup forget_feed = [this] {
    absl::MutexLock lock(&mu_);
    feed_ = nullptr;
  };
  const int64_t replay_until = cursor_;
  absl::Status status;
  google::protobuf::Arena arena;  // pages are parsed on it, reset after each
  for (;;) {
    arena.Reset();
    auto* page = google::protobuf::Arena::CreateMessage<v1::WatchReadingsResponse>(&arena);
    // Stage times measure work, on the wall clock.
    const absl::Time read_from = absl::Now();
    status = feed.Next(page);
    if (!status.ok()) break;
    const absl::Time read_to = absl::Now();
    metrics_->stage_read.Increment(absl::ToDoubleSeconds(read_to - read_from));
    const absl::Duration waited = committer.waited();
    status = Handle(*page, replay_until);
    if (!status.ok()) break;
    handled_ = std::max(handled_, page->last_seq());
    const absl::Duration wait = committer.waited() - waited;
    metrics_->stage_wait.Increment(absl::ToDoubleSeconds(wait));
    metrics_->stage_judge.Increment(absl::ToDoubleSeconds(absl::Now() - read_to - wait));
  }
  if (lost) return absl::UnavailableError(absl::StrCat("the leader lock is lost; ", status.ToString()));
  return status;
}

absl::Status Evaluator::SyncRules(bool force) {
  auto version = store_->RulesVersion();
  if (!version.ok()) return version.status();
  if (!force && *version == rules_version_) return absl::OkStatus();
  auto rules = store_->ListRules(true);
  if (!rules.ok()) return rules.status();
  auto dir = directory_->Refresh();
  if (!dir.ok()) return dir.status();
  if (absl::Status s = LoadWhitelist(**dir); !s.ok()) return s;  // what opens now may be whitelisted

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
  rule_ids_.clear();
  rules_by_series_.clear();
  for (size_t i = 0; i < rules_.size(); ++i) {
    rule_ids_.push_back(rule_names_.Id(rules_[i].code()));
    for (const std::string& code : rules_[i].indicator_codes()) {
      rules_by_series_[SeriesId(indicators_.Id(code), 0, rules_[i].period_type())].push_back(i);
    }
  }
  rules_version_ = *version;

  std::vector<EventUpdate> updates;
  size_t visited = 0;
  for (const auto& [id, series] : projection_) {
    if (++visited % 4096 == 0 && stop_.HasBeenNotified()) return absl::CancelledError("stopping");
    const int indicator = static_cast<int>(id >> 40), unit = static_cast<int>((id >> 8) & 0xFFFFFFFF),
              type = static_cast<int>(id & 0xFF);
    auto it = rules_by_series_.find(SeriesId(indicator, 0, type));
    if (it == rules_by_series_.end()) continue;
    const IndicatorFacts* facts = (*dir)->Indicator(indicators_.Name(indicator));
    if (facts == nullptr) continue;
    const UnitFacts* unit_facts = (*dir)->Unit(units_.Name(unit));
    std::optional<Period> period;
    for (size_t i = 0; i < series.values.size(); ++i) {
      if (std::isnan(series.values[i])) continue;
      const int64_t ordinal = series.first + static_cast<int64_t>(i);
      period = period ? period->Shift(static_cast<int>(ordinal - period->Ordinal()))
                      : Period::FromOrdinal(static_cast<PeriodType>(type), ordinal);
      for (size_t r : it->second) {
        if (!IsValueRule(rules_[r].kind())) continue;  // timer rules judge themselves
        Judge(r, **dir, unit, unit_facts, *facts, series, *period, ordinal, 0, updates);
      }
    }
  }
  absl::flat_hash_map<int, bool> live;
  std::vector<std::string> live_codes;
  for (size_t r = 0; r < rules_.size(); ++r) {
    live[rule_ids_[r]] = true;
    live_codes.push_back(rules_[r].code());
  }
  if (absl::Status s = Commit(std::move(updates), queued_to_, absl::InfinitePast()); !s.ok()) return s;
  if (absl::Status s = committer_->Flush(); !s.ok()) return s;
  // Events of disabled or deleted rules resolve, whoever opened them (timers too).
  if (absl::Status s = store_->ResolveRulesOtherThan(
          live_codes, "the rule was disabled or changed so that it no longer applies", epoch_);
      !s.ok()) {
    return s;
  }
  for (auto it = open_.begin(); it != open_.end();) {
    if (!live.contains(it->first.rule)) {
      open_.erase(it++);
    } else {
      ++it;
    }
  }
  return store_->SetAppliedRulesVersion(rules_version_, epoch_);
}

void Evaluator::Judge(size_t rule_index, const DirectorySnapshot& dir, int unit_id, const UnitFacts* u,
                      const IndicatorFacts& indicator, const Series& series, const Period& period, int64_t ordinal,
                      int64_t cause_seq, std::vector<EventUpdate>& updates) {
  const v1::Rule& rule = rules_[rule_index];
  if (rule.kind() == v1::RULE_KIND_QUALITY_CONSISTENCY) return;  // judged on timers
  const std::string& unit = units_.Name(unit_id);
  if (!InRuleScope(rule, dir, unit)) return;
  const EventId key{rule_ids_[rule_index], unit_id, static_cast<int>(period.type()), ordinal};
  auto open = open_.find(key);
  Verdict verdict;
  if (rule.kind() == v1::RULE_KIND_QUALITY_APPLICABILITY) {
    verdict = JudgeApplicability(rule, unit, u, indicator.code);
  } else if (rule.kind() == v1::RULE_KIND_MISSING) {
    // Timers open missing-value events (on any replica); the value's arrival
    // resolves the event of this key, if there is one.
    Verdict reported;
    reported.message = "the value was reported";
    EventUpdate up = EventUpdate::Of(rule, Change::kResolve, unit, period.key(), indicator.code, std::move(reported));
    up.keep_observed = true;
    up.cause_seq = cause_seq;
    updates.push_back(std::move(up));
    return;
  } else {
    if (!AppliesToType(rule, u)) return;
    const int n = std::min<int>(HistoryNeeded(rule), static_cast<int>(window_.size()) - 1) + 1;
    for (int i = 0; i < n; ++i) window_[i] = series.Get(ordinal - (n - 1) + i);
    const auto window = absl::MakeConstSpan(window_.data(), n);
    verdict = Evaluate(rule, indicator.direction, window, /*explain=*/false);
    // A verdict that resolves the event says why, in words.
    if (verdict.level == 0 && open != open_.end()) verdict = Evaluate(rule, indicator.direction, window);
    ++evaluations_;
  }
  auto judged =
      Judged(rule, open == open_.end() ? nullptr : &open->second, unit, period, indicator.code, std::move(verdict));
  if (!judged) return;
  EventUpdate& up = *judged;
  up.cause_seq = cause_seq;
  up.suppressed = up.change == Change::kOpen && Whitelisted(whitelist_, clock_->Now(), rule.code(),
                                                            rule.theme_code(), dir, unit, indicator.code);
  // Keep the in-memory view in step so later values in the same page see it.
  if (up.change == Change::kResolve) {
    open_.erase(open);
  } else {
    open_[key] = AfterUpdate(up);
  }
  updates.push_back(std::move(up));
}

absl::Status Evaluator::LoadWhitelist(const DirectorySnapshot& dir) {
  auto wl = store_->Whitelist(false);
  if (!wl.ok()) return wl.status();
  whitelist_ = *std::move(wl);
  // An entry suppresses what is open when it is made; events opened since
  // from verdicts judged before this evaluator knew of it are queued or
  // committed now: once they are committed, cover them too.
  int64_t newest = whitelist_seen_;
  bool flushed = false;
  for (const v1::WhitelistEntry& w : whitelist_) {
    if (w.id() <= whitelist_seen_) continue;
    if (!flushed) {
      if (absl::Status s = committer_->Flush(); !s.ok()) return s;
      flushed = true;
    }
    if (auto covered = store_->SuppressCovered(w, dir); !covered.ok()) return covered.status();
    newest = std::max(newest, w.id());
  }
  whitelist_seen_ = newest;
  return absl::OkStatus();
}

absl::Status Evaluator::Commit(std::vector<EventUpdate> updates, int64_t to, absl::Time newest) {
  queued_to_ = to;
  return committer_->Push(std::move(updates), to, newest);
}

absl::Status Evaluator::SweepWhitelist() {
  last_sweep_ = clock_->Now();
  auto due = store_->ExpiryDue();
  if (!due.ok()) return due.status();
  if (!*due) return absl::OkStatus();
  // Events suppressed by an entry that just expired may still be queued.
  if (absl::Status s = committer_->Flush(); !s.ok()) return s;
  auto dir = directory_->Get();
  if (!dir.ok()) return dir.status();
  if (absl::Status s = LoadWhitelist(**dir); !s.ok()) return s;
  auto reopened = store_->ReopenExpired(**dir);
  if (!reopened.ok()) return reopened.status();
  for (const auto& e : *reopened) metrics_->Event("reopened", e.level());
  return absl::OkStatus();
}

absl::Status Evaluator::Handle(const v1::WatchReadingsResponse& page, int64_t replay_until) {
  // Project every value; judge only those past the cursor.
  struct Touched {
    int unit, indicator;
    uint64_t series;
    Period period;
    int64_t ordinal;
    int64_t seq;
  };
  std::vector<Touched> touched;
  touched.reserve(page.changes_size());
  for (const v1::ReadingChange& c : page.changes()) {
    const v1::Reading& r = c.reading();
    auto period = Period::Parse(r.key().period().key());
    if (!period.ok()) continue;
    const int unit = units_.Id(r.key().unit_code()), indicator = indicators_.Id(r.key().indicator_code());
    const uint64_t series = SeriesId(indicator, unit, static_cast<int>(period->type()));
    const int64_t ordinal = period->Ordinal();
    projection_[series].Set(ordinal, r.value());
    if (c.seq() > replay_until) touched.push_back({unit, indicator, series, *period, ordinal, c.seq()});
  }
  if (page.last_seq() < replay_until) {
    cursor_ = page.last_seq();
    return absl::OkStatus();  // still rebuilding the projection
  }
  // The projection holds every value up to the cursor: the rule set is
  // judged on all of it once, then again whenever it changes — also while
  // no readings arrive (heartbeat pages come every second).
  if (absl::Status s = SyncRules(!synced_); !s.ok()) return s;
  synced_ = true;
  std::vector<EventUpdate> updates;
  if (!touched.empty()) {
    auto dir = directory_->Get();
    if (!dir.ok()) return dir.status();
    if (absl::Status s = LoadWhitelist(**dir); !s.ok()) return s;  // entries made a moment ago count
    bool refreshed = false;
    for (const Touched& t : touched) {
      auto it = rules_by_series_.find(SeriesId(t.indicator, 0, static_cast<int>(t.period.type())));
      if (it == rules_by_series_.end()) continue;
      const std::string& unit_code = units_.Name(t.unit);
      const std::string& indicator_code = indicators_.Name(t.indicator);
      if (((*dir)->Unit(unit_code) == nullptr || (*dir)->Indicator(indicator_code) == nullptr) && !refreshed) {
        refreshed = true;  // a unit or indicator newer than the snapshot
        dir = directory_->Refresh();
        if (!dir.ok()) return dir.status();
      }
      const IndicatorFacts* facts = (*dir)->Indicator(indicator_code);
      if (facts == nullptr) continue;
      const UnitFacts* unit_facts = (*dir)->Unit(unit_code);
      const Series& series = projection_[t.series];
      for (size_t r : it->second) {
        // A value also changes the verdicts of the periods after it that look back at it.
        const int ahead = HistoryNeeded(rules_[r]);
        Judge(r, **dir, t.unit, unit_facts, *facts, series, t.period, t.ordinal, t.seq, updates);
        for (int i = 1; i <= ahead; ++i) {
          if (!series.Has(t.ordinal + i)) continue;
          Judge(r, **dir, t.unit, unit_facts, *facts, series, t.period.Shift(i), t.ordinal + i, t.seq, updates);
        }
      }
    }
  }
  absl::Time newest = absl::InfinitePast();
  if (!page.changes().empty()) {
    const auto& last = page.changes(page.changes_size() - 1).reading().recorded_at();
    newest = TimeOf(last);
  }
  if (absl::Status s = Commit(std::move(updates), page.last_seq(), newest); !s.ok()) return s;
  metrics_->evaluations.Increment(static_cast<double>(evaluations_));
  evaluations_ = 0;
  // Whitelist entries that expired: reopen what they suppressed.
  if (clock_->Now() - last_sweep_ > kSweepInterval) return SweepWhitelist();
  return absl::OkStatus();
}

}  // namespace aw::monitor
