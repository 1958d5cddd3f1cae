// awctl: the operator's command-line client of auditwatch.
//   awctl health [--wait=DURATION] [--addr=SERVICE=HOST:PORT ...]
//       each service's grpc.health.v1 status; exit 0 when all are SERVING
//       (waiting up to DURATION for that), 1 otherwise.
//   awctl apply-rules [--seed=N] [--year=YYYY] [--monitor=HOST:PORT]
//       applies the default warning rules for the synthetic province and prints
//       the events they raise by level and theme.
//   awctl load-synthetic [--seed=N] [--year=YYYY] [--streams=N] [--ingest=HOST:PORT]
//       creates the synthetic province's units and indicators and streams its
//       readings through IngestService; prints progress and counts.
#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auditwatch/v1/audit.grpc.pb.h"
#include "auditwatch/v1/gateway.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "auditwatch/v1/options.pb.h"
#include "auditwatch/v1/report.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/awctl/default_rules.h"
#include "services/awctl/synthetic.h"

namespace {

namespace v1 = ::auditwatch::v1;
using aw::demo::CatalogueLoad;
using aw::demo::LoadCatalogue;
using grpc::health::v1::HealthCheckResponse;

// --flag=value arguments of a command.
class Flags {
 public:
  explicit Flags(const std::vector<std::string>& args) {
    for (const std::string& a : args) {
      const size_t eq = a.find('=');
      if (!absl::StartsWith(a, "--") || eq == std::string::npos) {
        bad_ = a;
        continue;
      }
      values_.emplace_back(a.substr(2, eq - 2), a.substr(eq + 1));
    }
  }
  std::string Get(const std::string& name, const std::string& fallback) const {
    for (const auto& [k, v] : values_) {
      if (k == name) return v;
    }
    return fallback;
  }
  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : values_) {
      if (k == name) out.push_back(v);
    }
    return out;
  }
  // The first argument not of the form --name=value, or a flag not in `known`.
  std::string Unknown(const std::vector<std::string>& known) const {
    if (!bad_.empty()) return bad_;
    for (const auto& [k, v] : values_) {
      if (std::find(known.begin(), known.end(), k) == known.end()) return "--" + k;
    }
    return "";
  }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::string bad_;
};

struct Target {
  std::string service;
  std::string grpc_service;
  std::string address;
};

// Every service of the suite, with the module name and default port its
// contract declares (auditwatch/v1/options.proto). Each contract's file is
// reached through one of its messages, which also links it in.
std::vector<Target> Services() {
  const std::vector<std::pair<const google::protobuf::FileDescriptor*, const char*>> contracts = {
      {v1::Reading::descriptor()->file(), "IngestService"},     {v1::Rule::descriptor()->file(), "MonitorService"},
      {v1::AuditTask::descriptor()->file(), "AuditService"},     {v1::SchemeIndicator::descriptor()->file(), "ScoringService"},
      {v1::Report::descriptor()->file(), "ReportService"},       {v1::ApiKey::descriptor()->file(), "GatewayService"},
  };
  std::vector<Target> out;
  for (const auto& [file, name] : contracts) {
    const google::protobuf::ServiceDescriptor* service = file->FindServiceByName(name);
    const auto& options = service->options();
    out.push_back({options.GetExtension(v1::module), service->full_name(),
                   absl::StrCat("127.0.0.1:", options.GetExtension(v1::default_port))});
  }
  return out;
}

std::string Check(const Target& t, const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(t.grpc_service);
  HealthCheckResponse response;
  const grpc::Status s = grpc::health::v1::Health::NewStub(channel)->Check(&ctx, request, &response);
  if (!s.ok()) return absl::StrCat("UNREACHABLE (", s.error_message(), ")");
  return HealthCheckResponse::ServingStatus_Name(response.status());
}

int Health(const Flags& flags) {
  absl::Duration wait = absl::ZeroDuration();
  if (!absl::ParseDuration(flags.Get("wait", "0s"), &wait)) {
    std::fprintf(stderr, "awctl: --wait: expected a duration such as 60s\n");
    return 2;
  }
  std::map<std::string, std::string> addrs;
  for (const std::string& a : flags.All("addr")) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "awctl: --addr: expected SERVICE=HOST:PORT, got %s\n", a.c_str());
      return 2;
    }
    addrs[a.substr(0, eq)] = a.substr(eq + 1);
  }
  std::vector<Target> targets = Services();
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (Target& t : targets) {
    if (auto it = addrs.find(t.service); it != addrs.end()) t.address = it->second;
    channels.push_back(grpc::CreateChannel(t.address, grpc::InsecureChannelCredentials()));
  }
  const absl::Time give_up = absl::Now() + wait;
  for (;;) {
    std::vector<std::string> states;
    bool all = true;
    for (size_t i = 0; i < targets.size(); ++i) {
      states.push_back(Check(targets[i], channels[i]));
      all = all && states.back() == "SERVING";
    }
    if (all || absl::Now() >= give_up) {
      std::printf("%-8s %-21s %-32s %s\n", "SERVICE", "ADDRESS", "GRPC SERVICE", "HEALTH");
      for (size_t i = 0; i < targets.size(); ++i) {
        std::printf("%-8s %-21s %-32s %s\n", targets[i].service.c_str(),
                    targets[i].address.c_str(), targets[i].grpc_service.c_str(),
                    states[i].c_str());
      }
      return all ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

int LoadSynthetic(const Flags& flags) {
  uint64_t seed = 0;
  int year = 0, streams = 0;
  const int default_year = static_cast<int>(absl::ToCivilYear(absl::Now(), absl::UTCTimeZone()).year()) - 1;
  if (!absl::SimpleAtoi(flags.Get("seed", "42"), &seed) ||
      !absl::SimpleAtoi(flags.Get("year", absl::StrCat(default_year)), &year) ||
      !absl::SimpleAtoi(flags.Get("streams", "2"), &streams) || streams < 1 || streams > 16) {
    std::fprintf(stderr, "awctl load-synthetic: --seed, --year and --streams (1..16) take numbers\n");
    return 2;
  }
  auto channel = grpc::CreateChannel(flags.Get("ingest", "127.0.0.1:7101"),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::IngestService::NewStub(channel);
  const aw::demo::SyntheticProvince province(seed, year);
  const absl::Time start = absl::Now();

  const CatalogueLoad loaded = LoadCatalogue(*stub, province, "synthetic");
  if (!loaded.status.ok()) {
    std::fprintf(stderr, "%s\n", loaded.status.error_message().c_str());
    return 1;
  }
  std::printf("units: %zu in the tree (%d created, %d already there), %zu deliberately weak\n",
              province.units().size(), loaded.units_created, loaded.units_existing, province.weak_units().size());
  std::printf("indicators: %zu across 8 business categories\n", province.indicators().size());

  // Batches are dealt round-robin to the streams; each stream sends and
  // collects its acknowledgements.
  std::vector<std::vector<v1::ReadingBatch>> work(streams);
  int n = 0;
  province.ForEachBatch(500, [&](v1::ReadingBatch& b) {
    work[n++ % streams].push_back(b);
    return true;
  });
  std::atomic<int64_t> accepted{0}, rejected{0}, duplicates{0}, acked{0};
  std::atomic<bool> failed{false};
  std::mutex out_mu;
  const int64_t total_batches = n;
  auto send = [&](int s) {
    grpc::ClientContext ctx;
    auto stream = stub->IngestReadings(&ctx);
    std::thread writer([&] {
      for (const auto& b : work[s]) {
        if (!stream->Write(b)) break;
      }
      stream->WritesDone();
    });
    v1::BatchResult r;
    while (stream->Read(&r)) {
      accepted += r.accepted();
      rejected += r.rejected();
      if (r.duplicate()) ++duplicates;
      const int64_t done = ++acked;
      if (done % 500 == 0) {
        std::lock_guard<std::mutex> lock(out_mu);
        std::printf("  ... %lld of %lld batches acknowledged\n", static_cast<long long>(done),
                    static_cast<long long>(total_batches));
        std::fflush(stdout);
      }
    }
    writer.join();
    const grpc::Status st = stream->Finish();
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(out_mu);
      std::fprintf(stderr, "IngestReadings: %s\n", st.error_message().c_str());
      failed = true;
    }
  };
  std::vector<std::thread> senders;
  for (int s = 0; s < streams; ++s) senders.emplace_back(send, s);
  for (auto& t : senders) t.join();
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("readings of %d: %lld accepted, %lld rejected, in %lld batches (%lld already applied before)\n",
              year, static_cast<long long>(accepted.load()), static_cast<long long>(rejected.load()),
              static_cast<long long>(total_batches), static_cast<long long>(duplicates.load()));
  std::printf("loaded in %.1f s\n", secs);
  return failed ? 1 : 0;
}

int WatchReadings(const Flags& flags) {
  int64_t from = 0, limit = 0;
  if (!absl::SimpleAtoi(flags.Get("from", "0"), &from) ||
      !absl::SimpleAtoi(flags.Get("limit", "0"), &limit)) {
    std::fprintf(stderr, "awctl watch-readings: --from and --limit take numbers\n");
    return 2;
  }
  const bool quiet = flags.Get("quiet", "false") == "true";
  auto stub = v1::IngestService::NewStub(grpc::CreateChannel(
      flags.Get("ingest", "127.0.0.1:7101"), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::WatchReadingsRequest req;
  req.set_from_seq(from);
  auto reader = stub->WatchReadings(&ctx, req);
  v1::WatchReadingsResponse page;
  int64_t n = 0, last = from;
  const absl::Time start = absl::Now();
  while ((limit == 0 || n < limit) && reader->Read(&page)) {
    for (const auto& c : page.changes()) {
      if (!quiet) {
        const auto& r = c.reading();
        std::printf("%lld %s %s %s %g %s\n", static_cast<long long>(c.seq()), r.key().unit_code().c_str(),
                    r.key().indicator_code().c_str(), r.key().period().key().c_str(), r.value(),
                    r.source().c_str());
      }
    }
    n += page.changes_size();
    last = page.last_seq();
  }
  const double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::fprintf(stderr, "%lld readings in %.2f s (%.0f/s); resume with --from=%lld\n",
               static_cast<long long>(n), secs, n / secs, static_cast<long long>(last));
  ctx.TryCancel();
  reader->Finish();
  return 0;
}

int ApplyRules(const Flags& flags) {
  uint64_t seed = 0;
  int year = 0;
  const int default_year = static_cast<int>(absl::ToCivilYear(absl::Now(), absl::UTCTimeZone()).year()) - 1;
  if (!absl::SimpleAtoi(flags.Get("seed", "42"), &seed) ||
      !absl::SimpleAtoi(flags.Get("year", absl::StrCat(default_year)), &year)) {
    std::fprintf(stderr, "awctl apply-rules: --seed and --year take numbers\n");
    return 2;
  }
  auto monitor = v1::MonitorService::NewStub(grpc::CreateChannel(flags.Get("monitor", "127.0.0.1:7102"),
                                                                 grpc::InsecureChannelCredentials()));
  const aw::demo::SyntheticProvince province(seed, year);
  std::vector<aw::demo::IndicatorSpread> spreads;
  const auto profiles = province.profiles();
  for (size_t i = 0; i < province.indicators().size(); ++i) {
    spreads.push_back({province.indicators()[i], profiles[i].mean, profiles[i].spread});
  }
  const aw::demo::RuleSet set = aw::demo::DefaultRules(spreads);
  for (const auto& t : set.themes) {
    v1::UpsertThemeRequest req;
    *req.mutable_theme() = t;
    req.set_actor("awctl");
    grpc::ClientContext ctx;
    v1::Theme out;
    if (const grpc::Status s = monitor->UpsertTheme(&ctx, req, &out); !s.ok()) {
      std::fprintf(stderr, "UpsertTheme %s: %s\n", t.code().c_str(), s.error_message().c_str());
      return 1;
    }
  }
  for (const auto& r : set.rules) {
    v1::UpsertRuleRequest req;
    *req.mutable_rule() = r;
    req.set_actor("awctl");
    req.set_reason("default rule set");
    grpc::ClientContext ctx;
    v1::Rule out;
    if (const grpc::Status s = monitor->UpsertRule(&ctx, req, &out); !s.ok()) {
      std::fprintf(stderr, "UpsertRule %s: %s\n", r.code().c_str(), s.error_message().c_str());
      return 1;
    }
  }
  std::printf("rules: %zu in %zu themes\n", set.rules.size(), set.themes.size());

  // The evaluator judges the history under the new rules asynchronously: wait
  // until it has applied this rule set.
  const absl::Time give_up = absl::Now() + absl::Seconds(300);
  for (;;) {
    grpc::ClientContext ctx;
    v1::EvaluatorStatus status;
    const grpc::Status s = monitor->GetEvaluatorStatus(&ctx, v1::GetEvaluatorStatusRequest(), &status);
    if (s.ok() && status.rules_version_applied() >= status.rules_version()) break;
    if (absl::Now() > give_up) {
      std::fprintf(stderr, "the evaluator has not applied the rules within 300 s\n");
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  int64_t last = 0;
  std::map<std::string, std::map<int, int>> by_theme;
  std::map<int, int> by_level;
  std::map<int, int> by_state;
  v1::ListEventsRequest req;
  req.mutable_page()->set_page_size(1000);
  for (;;) {
    grpc::ClientContext ctx;
    v1::ListEventsResponse resp;
    if (const grpc::Status s = monitor->ListEvents(&ctx, req, &resp); !s.ok()) {
      std::fprintf(stderr, "ListEvents: %s\n", s.error_message().c_str());
      return 1;
    }
    last = resp.page().total_size();
    for (const auto& e : resp.events()) {
      by_theme[e.theme_code()][e.level()]++;
      by_level[e.level()]++;
      by_state[e.state()]++;
    }
    if (resp.page().next_page_token().empty()) break;
    req.mutable_page()->set_page_token(resp.page().next_page_token());
  }
  std::printf("events: %lld (open %d, acknowledged %d, suppressed %d, resolved %d)\n", static_cast<long long>(last),
              by_state[v1::EVENT_STATE_OPEN], by_state[v1::EVENT_STATE_ACKNOWLEDGED],
              by_state[v1::EVENT_STATE_SUPPRESSED], by_state[v1::EVENT_STATE_RESOLVED]);
  std::printf("  %-8s %8s %8s %8s %8s\n", "theme", "level 1", "level 2", "level 3", "level 4");
  for (const auto& [theme, levels] : by_theme) {
    auto at = [&](int l) { auto it = levels.find(l); return it == levels.end() ? 0 : it->second; };
    std::printf("  %-8s %8d %8d %8d %8d\n", theme.c_str(), at(1), at(2), at(3), at(4));
  }
  std::printf("  %-8s %8d %8d %8d %8d\n", "all", by_level[1], by_level[2], by_level[3], by_level[4]);
  return 0;
}

void Usage() {
  std::fputs(
      "usage: awctl <command> [--flag=value ...]\n\n"
      "commands:\n"
      "  health [--wait=60s] [--addr=SERVICE=HOST:PORT ...]\n"
      "      grpc.health.v1 status of every service; exit 0 when all are SERVING\n"
      "  load-synthetic [--seed=42] [--year=<last year>] [--streams=2] [--ingest=127.0.0.1:7101]\n"
      "      load the synthetic province (units, indicators, a year of readings)\n"
      "  apply-rules [--seed=42] [--year=<last year>] [--monitor=127.0.0.1:7102]\n"
      "      apply the default warning rules for the synthetic province; print events by level and theme\n"
      "  watch-readings [--from=0] [--limit=N] [--quiet=true] [--ingest=127.0.0.1:7101]\n"
      "      print the readings change feed from a cursor, then follow it\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return 2;
  }
  const std::string command = argv[1];
  const Flags flags(std::vector<std::string>(argv + 2, argv + argc));
  std::string unknown;
  if (command == "health") {
    unknown = flags.Unknown({"wait", "addr"});
    if (unknown.empty()) return Health(flags);
  } else if (command == "load-synthetic") {
    unknown = flags.Unknown({"seed", "year", "streams", "ingest"});
    if (unknown.empty()) return LoadSynthetic(flags);
  } else if (command == "apply-rules") {
    unknown = flags.Unknown({"seed", "year", "monitor"});
    if (unknown.empty()) return ApplyRules(flags);
  } else if (command == "watch-readings") {
    unknown = flags.Unknown({"from", "limit", "quiet", "ingest"});
    if (unknown.empty()) return WatchReadings(flags);
  }
  if (!unknown.empty()) std::fprintf(stderr, "awctl %s: unknown argument %s\n", command.c_str(), unknown.c_str());
  Usage();
  return 2;
}
