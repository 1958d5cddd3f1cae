// awctl score-drive: the year's evaluation of the synthetic province through
// the gateway. The administrator saves the demo scheme (once); a centre
// auditor evaluates and publishes the 14 periods of the year (12 months, the
// first half, the year), with progress; then prints the top and bottom five
// supply stations of the year, the ranking of one county's stations and one
// station's full breakdown (every indicator's value, reading and formula
// terms, every deduction with its work order), its trend and its forecast.
// Last, the administrator applies the warning rules on scores, and the
// warnings they raised are counted.
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "services/awctl/commands.h"
#include "services/awctl/default_scheme.h"

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;

std::unique_ptr<grpc::ClientContext> Context(int seconds = 60) { return Deadline(seconds); }

v1::Period PeriodOf(const std::string& key) {
  v1::Period p;
  p.set_key(key);
  return p;
}

std::vector<v1::RankingRow> Ranking(v1::ScoringService::Stub& scoring, const std::string& parent, v1::UnitType type,
                                    const std::string& period, bool* ok) {
  std::vector<v1::RankingRow> rows;
  v1::ListRankingsRequest req;
  req.set_parent_code(parent);
  req.set_unit_type(type);
  *req.mutable_period() = PeriodOf(period);
  req.mutable_page()->set_page_size(1000);
  for (;;) {
    v1::ListRankingsResponse resp;
    if (Refused(scoring.ListRankings(Context().get(), req, &resp), "ListRankings " + parent)) {
      *ok = false;
      return rows;
    }
    rows.insert(rows.end(), resp.rows().begin(), resp.rows().end());
    if (resp.page().next_page_token().empty()) break;
    req.mutable_page()->set_page_token(resp.page().next_page_token());
  }
  *ok = true;
  return rows;
}

void PrintRow(const v1::RankingRow& r) {
  std::printf("  %4d  %-14s %8.3f  main %7.3f  process %7.3f  business %7.3f  pct %5.1f\n", r.rank(),
              r.unit_code().c_str(), r.composite(), r.main_total(), r.process_total(), r.business_total(),
              r.percentile());
}

}  // namespace

int ScoreDrive(const Flags& flags) {
  const auto synthetic = Province(flags, "score-drive");
  if (!synthetic) return 2;
  const std::string county = flags.Get("unit", "C02-D04");
  auto admin_channel = Connect(flags);
  if (admin_channel == nullptr) return 2;
  std::vector<std::string> centre_args = {"--key-file=" + flags.Get("centre-key-file", ""),
                                          "--gateway=" + GatewayAddress(flags)};
  if (flags.Has("tls-ca")) centre_args.push_back("--tls-ca=" + flags.Get("tls-ca", ""));
  auto centre_channel = Connect(Flags(centre_args));
  if (centre_channel == nullptr) return 2;
  auto admin = v1::ScoringService::NewStub(admin_channel);
  auto scoring = v1::ScoringService::NewStub(centre_channel);
  const int year = synthetic->year();

  // The scheme: saved once (a later run finds it).
  v1::GetSchemeRequest get;
  get.set_year(year);
  v1::Scheme scheme;
  const grpc::Status found = admin->GetScheme(Context().get(), get, &scheme);
  if (found.error_code() == grpc::StatusCode::NOT_FOUND) {
    v1::UpsertSchemeRequest up;
    *up.mutable_scheme() = aw::demo::DefaultScheme(*synthetic);
    up.set_reason("demo scheme of the synthetic province");
    if (Refused(admin->UpsertScheme(Context().get(), up, &scheme), "UpsertScheme")) return 1;
  } else if (Refused(found, "GetScheme")) {
    return 1;
  }
  std::printf("scheme %d version %lld: %d items, weights main %.0f %% / process %.0f %% / business %.0f %%, "
              "base share %.0f %%, bonus cap %.1f\n",
              year, static_cast<long long>(scheme.audit().version()), scheme.items_size(),
              scheme.main_weight_percent(), scheme.process_weight_percent(), scheme.business_weight_percent(),
              scheme.base_share_percent(), scheme.bonus_cap());

  // The 14 evaluations of the year, published.
  std::vector<std::string> periods;
  for (int m = 1; m <= 12; ++m) periods.push_back(absl::StrFormat("%04d-%02d", year, m));
  periods.push_back(absl::StrCat(year, "-H1"));
  periods.push_back(absl::StrCat(year));
  const absl::Time all = absl::Now();
  for (size_t i = 0; i < periods.size(); ++i) {
    v1::RunEvaluationRequest req;
    *req.mutable_period() = PeriodOf(periods[i]);
    req.set_publish(true);
    v1::EvaluationRun run;
    const absl::Time t0 = absl::Now();
    if (Refused(scoring->RunEvaluation(Context(300).get(), req, &run), "RunEvaluation " + periods[i])) return 1;
    std::fprintf(stderr, "  [%2zu/%zu] %-8s run %-5lld %5d units %6d readings %3d deductions %5d missing  %.2f s\n",
                 i + 1, periods.size(), periods[i].c_str(), static_cast<long long>(run.id()), run.units(),
                 run.readings(), run.deductions(), run.missing_values(), absl::ToDoubleSeconds(absl::Now() - t0));
  }
  std::printf("evaluated and published %zu periods in %.1f s\n", periods.size(),
              absl::ToDoubleSeconds(absl::Now() - all));

  const std::string year_key = absl::StrCat(year);
  bool ok = false;
  const auto stations = Ranking(*scoring, "P", v1::UNIT_TYPE_SUPPLY_STATION, year_key, &ok);
  if (!ok || stations.empty()) return 1;
  std::printf("supply stations of the province, %s: top five of %zu\n", year_key.c_str(), stations.size());
  for (size_t i = 0; i < 5 && i < stations.size(); ++i) PrintRow(stations[i]);
  std::printf("  … bottom five\n");
  for (size_t i = stations.size() >= 5 ? stations.size() - 5 : 0; i < stations.size(); ++i) PrintRow(stations[i]);

  const auto own = Ranking(*scoring, county, v1::UNIT_TYPE_SUPPLY_STATION, year_key, &ok);
  if (!ok || own.empty()) return 1;
  std::printf("supply stations of %s, %s (competition ranking):\n", county.c_str(), year_key.c_str());
  for (const auto& r : own) PrintRow(r);

  // One station's full breakdown: the last of the county's ranking.
  const std::string station = own.back().unit_code();
  v1::GetEvaluationRequest ge;
  ge.set_unit_code(station);
  *ge.mutable_period() = PeriodOf(year_key);
  ge.set_weakest(3);
  v1::Evaluation e;
  if (Refused(scoring->GetEvaluation(Context().get(), ge, &e), "GetEvaluation " + station)) return 1;
  std::printf("breakdown of %s, %s (run %lld, scheme %d v%lld):\n", station.c_str(), year_key.c_str(),
              static_cast<long long>(e.run_id()), e.scheme_year(), static_cast<long long>(e.scheme_version()));
  std::printf("  %-8s %-7s %12s %10s %10s %8s %7s %7s  %s\n", "item", "class", "value", "base", "full", "progress",
              "points", "score", "reading (seq/version)");
  for (const auto& sc : e.indicators()) {
    std::printf("  %-8s %-7s %12s %10.3f %10.3f %8.3f %7.1f %7.3f  %s\n", sc.indicator_code().c_str(),
                sc.class_() == v1::INDICATOR_CLASS_MAIN ? "main" : "process",
                sc.missing() ? "missing" : absl::StrFormat("%.2f", sc.value()).c_str(), sc.base_value(),
                sc.full_score_value(), sc.progress(), sc.points(), sc.score(),
                sc.missing() ? "-"
                : sc.reading().derived()
                    ? absl::StrCat("roll-up of ", sc.reading().derived_from(), " readings").c_str()
                    : absl::StrCat(sc.reading().seq(), "/v", sc.reading().version()).c_str());
  }
  for (const auto& d : e.business_deductions()) {
    std::printf("  business deduction %lld: %.2f points (work order %lld, standard %s)\n",
                static_cast<long long>(d.deduction_id()), d.points(), static_cast<long long>(d.work_order_id()),
                d.standard_code().c_str());
  }
  for (const auto& d : e.direct()) {
    std::printf("  direct deduction %lld: %.2f points (incident %lld)\n", static_cast<long long>(d.deduction_id()),
                d.points(), static_cast<long long>(d.incident_id()));
  }
  std::printf("  main %.3f (%.2f of %.0f points) × %.1f %% + process %.3f (%.2f of %.0f) × %.1f %% + business %.3f "
              "× %.1f %% − direct %.2f + bonus %.2f = composite %.4f; rank %d of %d under %s\n",
              e.main().total(), e.main().earned(), e.main().possible(), e.main().applied_weight_percent(),
              e.process().total(), e.process().earned(), e.process().possible(), e.process().applied_weight_percent(),
              e.business().total(), e.business().applied_weight_percent(), e.direct_deductions(), e.bonus(),
              e.composite(), e.rank(), e.ranked(), e.parent_code().c_str());
  std::printf("  weakest items (短板):");
  for (const auto& w : e.weakest()) std::printf(" %s −%.2f", w.indicator_code().c_str(), w.composite_loss());
  std::printf(" composite points\n");

  v1::GetTrendRequest tr;
  tr.set_unit_code(station);
  *tr.mutable_periods()->mutable_first() = PeriodOf(periods.front());
  *tr.mutable_periods()->mutable_last() = PeriodOf(periods[11]);
  v1::GetTrendResponse trend;
  if (Refused(scoring->GetTrend(Context().get(), tr, &trend), "GetTrend")) return 1;
  std::printf("  trend:");
  for (const auto& p : trend.points()) std::printf(" %s %.2f", p.period().key().substr(5).c_str(), p.composite());
  std::printf("\n");
  v1::ForecastRequest fr;
  fr.set_unit_code(station);
  *fr.mutable_through() = PeriodOf(periods[11]);
  v1::ForecastResponse forecast;
  if (Refused(scoring->Forecast(Context().get(), fr, &forecast), "Forecast")) return 1;
  std::printf("  forecast %s: %.2f (80 %% interval %.2f … %.2f) by %s\n", forecast.period().key().c_str(),
              forecast.composite().point(), forecast.composite().lower(), forecast.composite().upper(),
              forecast.method().c_str());

  // Warnings on scores: the rules need the score readings in ingest's catalogue.
  auto ingest = v1::IngestService::NewStub(admin_channel);
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  for (;;) {
    v1::QueryReadingsRequest q;
    q.add_indicator_codes("SCORE-COMPOSITE");
    *q.mutable_periods()->mutable_first() = PeriodOf(periods[11]);
    *q.mutable_periods()->mutable_last() = PeriodOf(periods[11]);
    q.mutable_page()->set_page_size(1);
    v1::QueryReadingsResponse r;
    const grpc::Status s = ingest->QueryReadings(Context().get(), q, &r);
    if (s.ok() && r.page().total_size() > 0) break;
    if (absl::Now() > give_up) {
      std::fprintf(stderr, "the score readings did not reach ingest within 120 s: %s\n", s.error_message().c_str());
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  auto monitor = v1::MonitorService::NewStub(admin_channel);
  const aw::demo::RuleSet rules = aw::demo::ScoreRules();
  for (const auto& t : rules.themes) {
    v1::UpsertThemeRequest req;
    *req.mutable_theme() = t;
    req.set_actor("awctl");
    v1::Theme out;
    if (Refused(monitor->UpsertTheme(Context().get(), req, &out), "UpsertTheme " + t.code())) return 1;
  }
  for (const auto& r : rules.rules) {
    v1::UpsertRuleRequest req;
    *req.mutable_rule() = r;
    req.set_actor("awctl");
    req.set_reason("warnings on scores");
    v1::Rule out;
    if (Refused(monitor->UpsertRule(Context().get(), req, &out), "UpsertRule " + r.code())) return 1;
  }
  for (;;) {
    v1::EvaluatorStatus status;
    const grpc::Status s = monitor->GetEvaluatorStatus(Context().get(), v1::GetEvaluatorStatusRequest(), &status);
    if (s.ok() && status.rules_version_applied() >= status.rules_version()) break;
    if (absl::Now() > give_up + absl::Seconds(180)) {
      std::fprintf(stderr, "the evaluator has not applied the score rules in time\n");
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  v1::ListEventsRequest le;
  le.add_theme_codes("T-SCORE");
  le.mutable_page()->set_page_size(1);
  v1::ListEventsResponse events;
  if (Refused(monitor->ListEvents(Context().get(), le, &events), "ListEvents T-SCORE")) return 1;
  std::printf("warnings on scores (theme T-SCORE, rules R-SCORE-STATIC and R-SCORE-CHANGE): %lld events\n",
              static_cast<long long>(events.page().total_size()));
  return 0;
}

}  // namespace aw::awctl
