// The demo pipeline's commands, through the gateway: awctl load-synthetic
// (the synthetic province's catalogue and a year of readings), apply-rules
// (the default warning rules, then the events they raise) and
// watch-readings (the readings change feed).
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "services/awctl/commands.h"
#include "services/awctl/default_rules.h"
#include "services/awctl/synthetic.h"

namespace aw::awctl {

namespace v1 = ::auditwatch::v1;
using aw::demo::CatalogueLoad;
using aw::demo::LoadCatalogue;

std::optional<aw::demo::SyntheticProvince> Province(const Flags& flags, const char* command) {
  uint64_t seed = 0;
  int year = 0;
  const int default_year = static_cast<int>(absl::ToCivilYear(absl::Now(), absl::UTCTimeZone()).year()) - 1;
  if (!absl::SimpleAtoi(flags.Get("seed", "42"), &seed) ||
      !absl::SimpleAtoi(flags.Get("year", absl::StrCat(default_year)), &year)) {
    std::fprintf(stderr, "awctl %s: --seed and --year take numbers\n", command);
    return std::nullopt;
  }
  return std::make_optional<aw::demo::SyntheticProvince>(seed, year);
}

int LoadSynthetic(const Flags& flags) {
  int streams = 0;
  if (!absl::SimpleAtoi(flags.Get("streams", "2"), &streams) || streams < 1 || streams > 16) {
    std::fprintf(stderr, "awctl load-synthetic: --streams takes 1..16\n");
    return 2;
  }
  const auto synthetic = Province(flags, "load-synthetic");
  if (!synthetic) return 2;
  const aw::demo::SyntheticProvince& province = *synthetic;
  const int year = province.year();
  const std::string part = flags.Get("part", "all");
  if (part != "all" && part != "catalogue" && part != "readings") {
    std::fprintf(stderr, "awctl load-synthetic: --part is all, catalogue or readings\n");
    return 2;
  }
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  auto stub = v1::IngestService::NewStub(channel);
  const absl::Time start = absl::Now();

  if (part != "readings") {
    // Units and indicators: the centre's administrator's to define.
    const CatalogueLoad loaded = LoadCatalogue(*stub, province, "synthetic");
    if (!loaded.status.ok()) return Failed("catalogue", loaded.status);
    std::printf("units: %zu in the tree (%d created, %d already there), %zu deliberately weak\n",
                province.units().size(), loaded.units_created, loaded.units_existing, province.weak_units().size());
    std::printf("indicators: %zu across 8 business categories\n", province.indicators().size());
    if (part == "catalogue") return 0;
  }

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
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  auto stub = v1::IngestService::NewStub(channel);
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
  const auto synthetic = Province(flags, "apply-rules");
  if (!synthetic) return 2;
  const aw::demo::SyntheticProvince& province = *synthetic;
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  auto monitor = v1::MonitorService::NewStub(channel);
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

}  // namespace aw::awctl
