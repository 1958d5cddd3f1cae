// Scoring benchmark. Prints figures; it is not a test.
//
// 1. The pure computation (Google Benchmark): Evaluate() of one month of the
//    synthetic province (about 1,650 units, the demo scheme) on in-memory
//    inputs, beside a baseline measured in the same run: the formula alone
//    (ScoreValue over the same readings, no breakdown).
// 2. The forecast, backtested: two consecutive synthetic years (noise varying
//    by year, the units' quality kept) scored month by month in memory; each
//    month of the second year forecast from all months before it, by the
//    service's method and by the last value and the seasonal-naive (same
//    month a year before) forecasts. Prints MAPE and the 80 % interval's
//    coverage.
// 3. Runs end to end: the province's year loaded into ingest, the scheme
//    saved, then RunEvaluation of a month, the first half, the year and all 14
//    periods, each from reading the inputs to the committed run; beside the
//    baseline of reading the month's inputs alone (QueryReadings, same pages).
//
//   scoring_bench [--benchmark_* flags of Google Benchmark]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "common/identity.h"
#include "services/awctl/default_scheme.h"
#include "services/awctl/synthetic.h"
#include "services/scoring/scoring_logic.h"
#include "tests/support/process.h"
#include "tests/support/signed.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;
using aw::testing::SignedContext;
using aw::demo::SyntheticProvince;
constexpr uint64_t kSeed = 42;
constexpr int kYear = 2021;

// One month of the province as the evaluator gathers it.
const aw::scoring::Inputs& MonthInputs() {
  static const aw::scoring::Inputs* const kInputs = [] {
    auto* in = new aw::scoring::Inputs;
    const SyntheticProvince province(kSeed, kYear);
    in->period.set_type(v1::PERIOD_TYPE_MONTH);
    in->period.set_key(absl::StrCat(kYear, "-03"));
    in->scheme = aw::scoring::Normalised(aw::demo::DefaultScheme(province));
    for (const auto& u : province.units()) in->units.push_back({u.code(), u.parent_code(), u.type()});
    int64_t seq = 0;
    province.ForEachBatch(5000, [&](v1::ReadingBatch& b) {
      for (const auto& r : b.rows()) {
        if (r.period().key() != in->period.key()) continue;
        aw::scoring::ReadingIn in_r{.unit = r.unit_code(), .indicator = r.indicator_code(), .value = r.value()};
        in_r.ref.set_seq(++seq);
        in_r.ref.set_version(1);
        in->readings.push_back(std::move(in_r));
      }
      return true;
    });
    aw::scoring::Canonicalise(*in);
    return in;
  }();
  return *kInputs;
}

void BM_Evaluate(benchmark::State& state) {
  const aw::scoring::Inputs& in = MonthInputs();
  for (auto _ : state) {
    aw::scoring::Outcome o = aw::scoring::Evaluate(in);
    benchmark::DoNotOptimize(o.evaluations.data());
  }
  state.counters["units"] = static_cast<double>(in.units.size());
  state.counters["readings"] = static_cast<double>(in.readings.size());
}
BENCHMARK(BM_Evaluate)->Unit(benchmark::kMillisecond)->MinTime(2);

// Baseline: the formula alone over the same readings.
void BM_FormulaAlone(benchmark::State& state) {
  const aw::scoring::Inputs& in = MonthInputs();
  absl::flat_hash_map<std::string, const v1::SchemeItem*> items;
  for (const auto& it : in.scheme.items()) items[it.indicator_code()] = &it;
  for (auto _ : state) {
    double sum = 0;
    for (const auto& r : in.readings) {
      auto it = items.find(r.indicator);
      if (it == items.end()) continue;
      sum += aw::scoring::ScoreValue(r.value, it->second->base_value(), it->second->full_score_value(),
                                     it->second->points(), 0.6)
                 .score;
    }
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_FormulaAlone)->Unit(benchmark::kMillisecond)->MinTime(2);

// The composite of every unit in each of the 24 months of kYear − 1 and kYear
// (in memory, by the evaluation logic): by unit, oldest first.
std::map<std::string, std::vector<double>> MonthlyComposites() {
  std::map<std::string, std::vector<double>> out;
  for (int year : {kYear - 1, kYear}) {
    const SyntheticProvince province(kSeed, year, /*yearly_noise=*/true);
    std::map<std::string, aw::scoring::Inputs> months;
    const v1::Scheme scheme = aw::scoring::Normalised(aw::demo::DefaultScheme(province));
    for (int m = 1; m <= 12; ++m) {
      aw::scoring::Inputs& in = months[absl::StrFormat("%04d-%02d", year, m)];
      in.period.set_type(v1::PERIOD_TYPE_MONTH);
      in.period.set_key(absl::StrFormat("%04d-%02d", year, m));
      in.scheme = scheme;
      for (const auto& u : province.units()) in.units.push_back({u.code(), u.parent_code(), u.type()});
    }
    province.ForEachBatch(5000, [&](v1::ReadingBatch& b) {
      for (const auto& r : b.rows()) {
        auto it = months.find(r.period().key());
        if (it == months.end()) continue;
        it->second.readings.push_back({.unit = r.unit_code(), .indicator = r.indicator_code(), .value = r.value()});
      }
      return true;
    });
    for (auto& [key, in] : months) {
      aw::scoring::Canonicalise(in);
      for (const auto& e : aw::scoring::Evaluate(in).evaluations) out[e.unit_code()].push_back(e.composite());
    }
  }
  return out;
}

void Backtest() {
  const auto series = MonthlyComposites();
  struct Score {
    double ape = 0;
    int n = 0, covered = 0;
  } ses, last, seasonal;
  auto add = [](Score& s, double actual, const aw::scoring::Prediction& p) {
    s.ape += std::abs(actual - p.point) / std::abs(actual);
    ++s.n;
    if (actual >= p.lower && actual <= p.upper) ++s.covered;
  };
  for (const auto& [unit, values] : series) {
    if (values.size() != 24) continue;
    for (size_t t = 12; t < 24; ++t) {
      const std::vector<double> history(values.begin(), values.begin() + static_cast<long>(t));
      add(ses, values[t], *aw::scoring::ForecastNext(history));
      add(last, values[t], aw::scoring::LastValue(history));
      add(seasonal, values[t], {.point = values[t - 12], .lower = values[t - 12], .upper = values[t - 12]});
    }
  }
  std::printf("\nforecast backtest: the %zu units' composites, each month of %d forecast from every month before "
              "it (%d forecasts)\n",
              series.size(), kYear, ses.n);
  std::printf("  %-50s %8s %12s\n", "method", "MAPE", "80 % cover");
  std::printf("  %-50s %7.2f%% %11.1f%%\n", "exponential smoothing, alpha 0.5 (the service's)", 100 * ses.ape / ses.n,
              100.0 * ses.covered / ses.n);
  std::printf("  %-50s %7.2f%% %12s\n", "last value", 100 * last.ape / last.n, "-");
  std::printf("  %-50s %7.2f%% %12s\n", "seasonal naive (the same month a year before)",
              100 * seasonal.ape / seasonal.n, "-");
  const bool beats = ses.ape < last.ape && ses.ape < seasonal.ape;
  std::printf("  the service's method %s both baselines on this data (synthetic: noise around a steady level per "
              "unit)\n",
              beats ? "beats" : "does NOT beat");
  std::fflush(stdout);  // before the benchmark starts processes (a forked child would print it again)
}


int EndToEnd() {
  aw::testing::TestDatabase db;
  const std::string secret = "the benchmark's identity key";
  const std::string key_file = aw::testing::IdentityKeyFile(secret);
  aw::testing::AuditwatchProcess process("ingest,monitor,audit,scoring", db.url(),
                                         {"--identity_key_file=" + key_file});
  if (aw::testing::WaitForHealth(process.address("scoring"), "", "SERVING") != "SERVING") {
    std::fprintf(stderr, "scoring did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  std::filesystem::remove_all(std::filesystem::path(key_file).parent_path());
  const aw::IdentityKey key(secret);
  auto ingest = v1::IngestService::NewStub(process.Channel("ingest"));
  auto scoring = v1::ScoringService::NewStub(process.Channel("scoring"));
  const SyntheticProvince province(kSeed, kYear);
  if (!aw::demo::LoadCatalogue(*ingest, province, "bench").status.ok()) return 1;
  {
    const absl::Time t0 = absl::Now();
    grpc::ClientContext ctx;
    v1::ImportReadingsResponse summary;
    auto stream = ingest->ImportReadings(&ctx, &summary);
    province.ForEachBatch(5000, [&](v1::ReadingBatch& b) { return stream->Write(b); });
    stream->WritesDone();
    if (const grpc::Status s = stream->Finish(); !s.ok()) {
      std::fprintf(stderr, "ImportReadings: %s\n", s.error_message().c_str());
      return 1;
    }
    std::printf("loaded %zu units and %d readings of %d in %.1f s\n", province.units().size(), summary.accepted(),
                kYear, absl::ToDoubleSeconds(absl::Now() - t0));
  }
  v1::UpsertSchemeRequest up;
  *up.mutable_scheme() = aw::demo::DefaultScheme(province);
  v1::Scheme scheme;
  if (const grpc::Status s = scoring->UpsertScheme(SignedContext(key).get(), up, &scheme); !s.ok()) {
    std::fprintf(stderr, "UpsertScheme: %s\n", s.error_message().c_str());
    return 1;
  }
  auto run = [&](const std::string& period, v1::EvaluationRun* out) {
    v1::RunEvaluationRequest req;
    req.mutable_period()->set_key(period);
    const absl::Time t0 = absl::Now();
    const grpc::Status s = scoring->RunEvaluation(SignedContext(key).get(), req, out);
    if (!s.ok()) std::fprintf(stderr, "RunEvaluation %s: %s\n", period.c_str(), s.error_message().c_str());
    return s.ok() ? absl::ToDoubleSeconds(absl::Now() - t0) : -1.0;
  };
  auto read_inputs = [&](const std::string& period) {
    const absl::Time t0 = absl::Now();
    v1::QueryReadingsRequest q;
    for (const auto& it : scheme.items()) q.add_indicator_codes(it.indicator_code());
    q.mutable_periods()->mutable_first()->set_key(period);
    q.mutable_periods()->mutable_last()->set_key(period);
    q.mutable_page()->set_page_size(1000);
    int64_t n = 0;
    for (;;) {
      grpc::ClientContext ctx;
      v1::QueryReadingsResponse r;
      if (!ingest->QueryReadings(&ctx, q, &r).ok()) return -1.0;
      n += r.readings_size();
      if (r.page().next_page_token().empty()) break;
      q.mutable_page()->set_page_token(r.page().next_page_token());
    }
    return absl::ToDoubleSeconds(absl::Now() - t0);
  };
  const std::string month = absl::StrCat(kYear, "-03");
  std::printf("\n%-34s %10s   %s\n", "end to end (RunEvaluation)", "seconds", "baseline in the same run");
  for (int rep = 0; rep < 3; ++rep) {
    v1::EvaluationRun r;
    const double base = read_inputs(month);
    const double secs = run(month, &r);
    if (secs < 0) return 1;
    std::printf("%-34s %10.3f   reading its inputs alone %.3f s (%d units, %d readings)\n",
                absl::StrCat("one month (", month, "), rep ", rep + 1).c_str(), secs, base, r.units(), r.readings());
  }
  for (const std::string& p : {absl::StrCat(kYear, "-H1"), absl::StrCat(kYear)}) {
    v1::EvaluationRun r;
    const double base = read_inputs(p);
    const double secs = run(p, &r);
    if (secs < 0) return 1;
    std::printf("%-34s %10.3f   reading its inputs alone %.3f s (%d readings)\n", p.c_str(), secs, base,
                r.readings());
  }
  double all = 0;
  for (const auto& p : aw::scoring::EvaluationPeriods(kYear)) {
    v1::EvaluationRun r;
    const double secs = run(p.key(), &r);
    if (secs < 0) return 1;
    all += secs;
  }
  std::printf("%-34s %10.3f   (target: one period under 2 s, the year's 14 under 20 s)\n", "all 14 periods", all);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::printf("pure computation, one month of the synthetic province (target: under 50 ms per period)\n");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  Backtest();
  return EndToEnd();
}
