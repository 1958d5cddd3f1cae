#include "services/monitor/notifier.h"

#include <curl/curl.h>

#include <mutex>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/pg_arrays.h"
#include "common/status.h"
#include "common/worker_pool.h"

namespace aw::monitor {
namespace {

std::string Key() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat("aw-", absl::Hex(rng(), absl::kZeroPad16), absl::Hex(rng(), absl::kZeroPad16));
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

using db::NumberArray;
using db::TextArray;

std::vector<int64_t> ParseIds(const std::string& text) {
  std::vector<int64_t> out;
  for (absl::string_view part : absl::StrSplit(absl::string_view(text).substr(1, text.size() - 2), ',', absl::SkipEmpty())) {
    int64_t id = 0;
    if (absl::SimpleAtoi(part, &id)) out.push_back(id);
  }
  return out;
}

// Queues one raised event for every matching contact: into the pending message
// of that contact and unit while its grouping window is open, else a new one.
constexpr char kQueueSql[] = R"sql(
WITH targets AS (
  SELECT CASE WHEN c.phone <> '' THEN 'sms' ELSE 'email' END AS channel,
         coalesce(nullif(c.phone, ''), nullif(c.email, ''), c.name) AS recipient, e.unit_code
  FROM events e JOIN contacts c ON c.unit_code = e.unit_code AND c.active
  WHERE e.id = $1 AND (c.levels = '{}' OR e.level = ANY (c.levels))
), grouped AS (
  UPDATE notifications n SET event_ids = array_append(n.event_ids, $1)
  FROM targets t
  WHERE n.state = 1 AND n.recipient = t.recipient AND n.unit_code = t.unit_code AND n.not_before > now()
    AND NOT ($1 = ANY (n.event_ids))
  RETURNING n.recipient
)
INSERT INTO notifications (channel, recipient, unit_code, event_ids, state, idempotency_key, not_before)
SELECT t.channel, t.recipient, t.unit_code, ARRAY[$1::bigint], 1, $2 || '-' || t.recipient,
       now() + make_interval(secs => $3)
FROM targets t
WHERE NOT EXISTS (SELECT 1 FROM grouped g WHERE g.recipient = t.recipient)
  AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.state = 1 AND n.recipient = t.recipient
                  AND n.unit_code = t.unit_code AND n.not_before > now() AND $1 = ANY (n.event_ids)))sql";

}  // namespace

Notifier::Notifier(MonitorStore* store, MonitorMetrics* metrics, Options options)
    : store_(store), metrics_(metrics), options_(std::move(options)) {
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

Notifier::~Notifier() { Stop(); }

void Notifier::Start() {
  thread_ = NamedThread("aw-notifier", [this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.tick)) {
      auto sent = DeliverDue();
      if (!sent.ok()) Logger("monitor")->warn("notifications: {}", sent.status().ToString());
    }
  });
}

void Notifier::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::Status Notifier::Enqueue(const std::vector<int64_t>& event_ids) {
  if (event_ids.empty()) return absl::OkStatus();
  return store_->pool()->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    AW_RETURN_IF_ERROR(EnqueueIn(tx, event_ids));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status Notifier::EnqueueIn(pqxx::transaction_base& tx, const std::vector<int64_t>& event_ids) {
  // Raised events (not suppressed) of units with someone to tell, with their
  // rules: each rule's definition is parsed once.
  const pqxx::result rows = tx.exec_params(R"sql(
    SELECT e.id, e.level, e.state, e.rule_code, r.revision, r.definition
    FROM events e JOIN rules r ON r.code = e.rule_code
    WHERE e.id = ANY ($1::bigint[]) AND e.state <> 3
      AND EXISTS (SELECT 1 FROM contacts c WHERE c.unit_code = e.unit_code AND c.active)
    ORDER BY e.id)sql",
                                           NumberArray(event_ids));
  absl::flat_hash_map<std::string, std::pair<int, v1::Rule>> rules;  // code → (revision, definition)
  for (const auto& r : rows) {
    const std::string code = r[3].as<std::string>();
    const int revision = r[4].as<int>();
    auto it = rules.find(code);
    if (it == rules.end() || it->second.first != revision) {
      v1::Rule rule;
      rule.ParseFromString(pqxx::binarystring(r[5]).str());
      it = rules.insert_or_assign(code, std::make_pair(revision, std::move(rule))).first;
    }
    // Only events whose rule asks to notify at their level.
    const int level = r[1].as<int>();
    bool notify = false;
    for (const auto& l : it->second.second.levels()) {
      if (l.level() != level) continue;
      notify = std::find(l.actions().begin(), l.actions().end(), v1::WARNING_ACTION_NOTIFY) != l.actions().end();
    }
    if (!notify) continue;
    tx.exec_params(kQueueSql, r[0].as<int64_t>(), Key(), absl::ToDoubleSeconds(options_.group_window));
  }
  return absl::OkStatus();
}

absl::Status Notifier::Post(const std::string& key, const std::string& body) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json; charset=utf-8");
  headers = curl_slist_append(headers, ("Idempotency-Key: " + key).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, options_.gateway_url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  const CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat("gateway: ", curl_easy_strerror(rc)));
  if (code < 200 || code >= 300) return absl::UnavailableError(absl::StrCat("gateway answered HTTP ", code));
  return absl::OkStatus();
}

absl::StatusOr<int> Notifier::DeliverDue() {
  // Events raised since the last round, queued in the transactions that raised
  // them; taken in batches along the queue's key, all of them each round.
  for (;;) {
    std::vector<int64_t> raised;
    AW_RETURN_IF_ERROR(store_->pool()->Run([&](pqxx::connection& c) {
      pqxx::work tx(c);
      for (const auto& r : tx.exec(
               "DELETE FROM notify_queue WHERE event_id IN (SELECT event_id FROM notify_queue ORDER BY event_id "
               "LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING event_id")) {
        raised.push_back(r[0].as<int64_t>());
      }
      if (!raised.empty()) AW_RETURN_IF_ERROR(EnqueueIn(tx, raised));
      tx.commit();
      return absl::OkStatus();
    }));
    if (raised.empty()) break;
  }
  // Repeats: events still open (not acknowledged) and not notified for a while.
  std::vector<int64_t> repeat;
  AW_RETURN_IF_ERROR(store_->pool()->Run([&](pqxx::connection& c) {
    pqxx::work tx(c);
    for (const auto& r : tx.exec_params(
             "UPDATE events SET notified_at = now() WHERE state = 1 AND notified_at IS NOT NULL "
             "AND notified_at < now() - make_interval(secs => $1) RETURNING id",
             absl::ToDoubleSeconds(options_.repeat))) {
      repeat.push_back(r[0].as<int64_t>());
    }
    tx.commit();
    return absl::OkStatus();
  }));
  AW_RETURN_IF_ERROR(Enqueue(repeat));

  int sent = 0;
  for (;;) {
    bool claimed = false;
    AW_RETURN_IF_ERROR(store_->pool()->Run([&](pqxx::connection& c) -> absl::Status {
      pqxx::work tx(c);
      const pqxx::result r = tx.exec(
          "SELECT id, channel, recipient, unit_code, event_ids::text, idempotency_key, attempts FROM notifications "
          "WHERE state IN (1, 3) AND not_before <= now() ORDER BY not_before LIMIT 1 FOR UPDATE SKIP LOCKED");
      if (r.empty()) return absl::OkStatus();
      claimed = true;
      const int64_t id = r[0][0].as<int64_t>();
      const std::string channel = r[0][1].as<std::string>(), recipient = r[0][2].as<std::string>(),
                        unit = r[0][3].as<std::string>(), key = r[0][5].as<std::string>();
      const std::vector<int64_t> ids = ParseIds(r[0][4].as<std::string>());
      const int attempts = r[0][6].as<int>() + 1;
      std::string text = absl::StrCat("【稽查监控】", unit, " ", ids.size(), " warning(s):");
      std::vector<std::string> events_json;
      for (const auto& e : tx.exec_params(
               "SELECT id, rule_code, period_key, level, message FROM events WHERE id = ANY ($1::bigint[]) ORDER BY id",
               NumberArray(ids))) {
        absl::StrAppend(&text, " [L", e[3].as<int>(), "] ", e[4].as<std::string>(), ";");
        events_json.push_back(absl::StrCat(R"({"id":)", e[0].as<int64_t>(), R"(,"rule":")", JsonEscape(e[1].as<std::string>()),
                                           R"(","period":")", JsonEscape(e[2].as<std::string>()), R"(","level":)",
                                           e[3].as<int>(), R"(,"message":")", JsonEscape(e[4].as<std::string>()), R"("})"));
      }
      const std::string body = absl::StrCat(
          R"({"idempotency_key":")", JsonEscape(key), R"(","channel":")", channel, R"(","recipient":")",
          JsonEscape(recipient), R"(","unit":")", JsonEscape(unit), R"(","text":")", JsonEscape(text),
          R"(","events":[)", absl::StrJoin(events_json, ","), "]}");
      absl::Status delivered = absl::OkStatus();
      if (options_.gateway_url.empty()) {
        Logger("monitor")->info("notification {} to {} via log channel: {}", key, recipient, text);
      } else {
        delivered = Post(key, body);
      }
      if (delivered.ok()) {
        tx.exec_params("UPDATE notifications SET state = 2, attempts = $2, body = $3, sent_at = now(), last_error = '' "
                       "WHERE id = $1",
                       id, attempts, text);
        tx.exec_params("UPDATE events SET notified_at = now() WHERE id = ANY ($1::bigint[])",
                       NumberArray(ids));
        metrics_->notifications.Add({{"service", "monitor"}, {"result", "sent"}}).Increment();
        ++sent;
      } else if (attempts >= options_.max_attempts) {
        tx.exec_params("UPDATE notifications SET state = 4, attempts = $2, body = $3, last_error = $4 WHERE id = $1",
                       id, attempts, text, std::string(delivered.message()));
        metrics_->notifications.Add({{"service", "monitor"}, {"result", "failed"}}).Increment();
      } else {
        // Exponential backoff: 1 s, 2 s, 4 s … capped at 5 minutes.
        const double backoff = std::min(300.0, std::pow(2.0, attempts - 1));
        tx.exec_params("UPDATE notifications SET state = 3, attempts = $2, body = $3, last_error = $4, "
                       "not_before = now() + make_interval(secs => $5) WHERE id = $1",
                       id, attempts, text, std::string(delivered.message()), backoff);
        metrics_->notifications.Add({{"service", "monitor"}, {"result", "retried"}}).Increment();
      }
      tx.commit();
      return absl::OkStatus();
    }));
    if (!claimed) return sent;
  }
}

absl::StatusOr<v1::Contact> Notifier::UpsertContact(const v1::Contact& c, const std::string& actor) {
  if (c.unit_code().empty()) return InvalidField("contact.unit_code", "required");
  if (c.role().empty()) return InvalidField("contact.role", "required (leader, audit_specialist, duty_officer …)");
  if (c.name().empty()) return InvalidField("contact.name", "required");
  if (c.phone().empty() && c.email().empty()) return InvalidField("contact.phone", "a phone number or an e-mail");
  for (int l : c.levels()) {
    if (l < 1 || l > 4) return InvalidField("contact.levels", "levels are 1 to 4");
  }
  if (actor.empty()) return InvalidField("actor", "required");
  AW_RETURN_IF_ERROR(store_->pool()->Run([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec_params(R"sql(
      INSERT INTO contacts (unit_code, role, name, phone, email, levels, active, updated_by)
      VALUES ($1, $2, $3, $4, $5, $6::int[], $7, $8)
      ON CONFLICT (unit_code, role, name) DO UPDATE SET phone = excluded.phone, email = excluded.email,
        levels = excluded.levels, active = excluded.active, updated_by = excluded.updated_by, updated_at = now())sql",
                   c.unit_code(), c.role(), c.name(), c.phone(), c.email(),
                   NumberArray(std::vector<int>(c.levels().begin(), c.levels().end())), c.active(), actor);
    tx.commit();
    return absl::OkStatus();
  }));
  return c;
}

absl::StatusOr<std::vector<v1::Contact>> Notifier::Contacts(const std::vector<std::string>& units) {
  std::vector<v1::Contact> out;
  AW_RETURN_IF_ERROR(store_->pool()->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    for (const auto& r : tx.exec_params(
             "SELECT unit_code, role, name, phone, email, array_to_string(levels, ','), active FROM contacts "
             "WHERE $1::text[] = '{}' OR unit_code = ANY ($1::text[]) ORDER BY unit_code, role, name",
             TextArray(units))) {
      v1::Contact& c = out.emplace_back();
      c.set_unit_code(r[0].as<std::string>());
      c.set_role(r[1].as<std::string>());
      c.set_name(r[2].as<std::string>());
      c.set_phone(r[3].as<std::string>());
      c.set_email(r[4].as<std::string>());
      for (absl::string_view l : absl::StrSplit(r[5].as<std::string>(), ',', absl::SkipEmpty())) {
        int level = 0;
        if (absl::SimpleAtoi(l, &level)) c.add_levels(level);
      }
      c.set_active(r[6].as<bool>());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status Notifier::List(const std::vector<std::string>& units, const std::vector<int>& states, int64_t offset,
                            int limit, std::vector<v1::Notification>* out, int64_t* total) {
  return store_->pool()->Run([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    *total = 0;
    for (const auto& r : tx.exec_params(R"sql(
        SELECT id, channel, recipient, unit_code, event_ids::text, body, state, attempts, last_error, idempotency_key,
               extract(epoch FROM created_at)::bigint, extract(epoch FROM sent_at)::bigint, count(*) OVER ()
        FROM notifications
        WHERE ($1::text[] = '{}' OR unit_code = ANY ($1::text[])) AND ($2::int[] = '{}' OR state = ANY ($2::int[]))
        ORDER BY id OFFSET $3 LIMIT $4)sql",
                                        TextArray(units), NumberArray(states), offset, limit)) {
      v1::Notification& n = out->emplace_back();
      n.set_id(r[0].as<int64_t>());
      n.set_channel(r[1].as<std::string>());
      n.set_recipient(r[2].as<std::string>());
      n.set_unit_code(r[3].as<std::string>());
      for (int64_t id : ParseIds(r[4].as<std::string>())) n.add_event_ids(id);
      n.set_body(r[5].as<std::string>());
      n.set_state(static_cast<v1::NotificationState>(r[6].as<int>()));
      n.set_attempts(r[7].as<int>());
      n.set_last_error(r[8].as<std::string>());
      n.set_idempotency_key(r[9].as<std::string>());
      n.mutable_created_at()->set_seconds(r[10].as<int64_t>());
      if (!r[11].is_null()) n.mutable_sent_at()->set_seconds(r[11].as<int64_t>());
      *total = r[12].as<int64_t>();
    }
    return absl::OkStatus();
  });
}

}  // namespace aw::monitor
