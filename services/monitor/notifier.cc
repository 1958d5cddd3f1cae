#include "services/monitor/notifier.h"

#include <curl/curl.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status.h"

namespace aw::monitor {
namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// Raised events are routed in batches of this many.
constexpr int kRouteBatch = 500;

}  // namespace

Notifier::Notifier(MonitorStore* store, MonitorMetrics* metrics, Options options)
    : store_(store),
      metrics_(metrics),
      options_(std::move(options)),
      loop_("aw-notifier", "monitor", options_.tick, options_.clock, [this] { return DeliverDue().status(); }) {
  static std::once_flag curl_once;
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

void Notifier::Start() { loop_.Start(); }

void Notifier::Stop() { loop_.Stop(); }

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
  // Events raised since the last round, queued in the transactions that raised them.
  AW_RETURN_IF_ERROR(DrainDue([this] { return store_->RouteRaisedEvents(kRouteBatch, options_.group_window); })
                         .status());
  AW_RETURN_IF_ERROR(store_->QueueRepeats(options_.repeat, options_.group_window));
  int sent = 0;
  AW_RETURN_IF_ERROR(DrainDue([&]() -> absl::StatusOr<bool> {
                       AW_ASSIGN_OR_RETURN(
                           const Delivery outcome,
                           store_->DeliverNext(
                               [&](const v1::Notification& m, const std::vector<NotifiedEvent>& events) {
                                 const std::string text = NotificationText(m.unit_code(), events);
                                 if (options_.gateway_url.empty()) {
                                   Logger("monitor")->info("notification {} to {} via log channel: {}",
                                                           m.idempotency_key(), m.recipient(), text);
                                   return absl::OkStatus();
                                 }
                                 return Post(m.idempotency_key(),
                                             NotificationBody(m.idempotency_key(), m.channel(), m.recipient(),
                                                              m.unit_code(), text, events));
                               },
                               options_.backoff, options_.max_attempts));
                       switch (outcome) {
                         case Delivery::kNone: return false;
                         case Delivery::kSent:
                           metrics_->Notified("sent");
                           ++sent;
                           break;
                         case Delivery::kRetrying: metrics_->Notified("retried"); break;
                         case Delivery::kFailed: metrics_->Notified("failed"); break;
                       }
                       return true;
                     }).status());
  return sent;
}

}  // namespace aw::monitor
