// Report benchmark. Prints figures; it is not a test.
//
// The synthetic province's year (about 1,650 units) is loaded into ingest,
// the demo scheme saved and its twelve months evaluated and published; then,
// through the report service (one process with every backend, identities
// signed as the gateway signs them):
//
// 1. The monthly summary of the whole province in Excel with its charts,
//    from request to stored file (the job's requested_at → finished_at, as
//    the service records them, and as the client saw it through WatchReport),
//    beside two baselines measured in the same run: the same report in JSON
//    (the same gathering, the cheapest writing) and writing the workbook
//    alone (RenderXlsx on the same document, a direct call).
// 2. One station's evaluation in HTML, request to stored file, 20 times
//    (median, 90th percentile, max), beside the scoring calls it makes
//    (GetEvaluation, GetTrend, Forecast) timed alone and RenderHtml alone.
//
//   report_bench
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "auditwatch/v1/report.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "common/identity.h"
#include "services/awctl/default_scheme.h"
#include "services/awctl/synthetic.h"
#include "services/report/html_writer.h"
#include "services/report/xlsx_writer.h"
#include "tests/support/process.h"
#include "tests/support/report_params.h"
#include "tests/support/signed.h"
#include "tests/support/test_db.h"

namespace {

namespace v1 = ::auditwatch::v1;
using aw::testing::SignedContext;
using aw::demo::SyntheticProvince;

constexpr uint64_t kSeed = 42;
constexpr int kYear = 2025;


double Seconds(const google::protobuf::Timestamp& from, const google::protobuf::Timestamp& to) {
  return absl::ToDoubleSeconds(absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(to)) -
                               absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(from)));
}

struct Timed {
  v1::ReportJob job;
  double server = -1;  // requested_at → finished_at, as stored
  double client = -1;  // GenerateReport sent → READY received
};

Timed Generate(v1::ReportService::Stub& stub, const aw::IdentityKey& key, const v1::ReportParams& params) {
  static int n = 0;
  Timed t;
  v1::GenerateReportRequest req;
  *req.mutable_params() = params;
  req.set_idempotency_key(absl::StrCat("bench-", ++n, "-", absl::ToUnixNanos(absl::Now())));
  const absl::Time t0 = absl::Now();
  if (const grpc::Status s = stub.GenerateReport(SignedContext(key).get(), req, &t.job); !s.ok()) {
    std::fprintf(stderr, "GenerateReport: %s\n", s.error_message().c_str());
    return t;
  }
  v1::WatchReportRequest watch;
  watch.set_id(t.job.id());
  auto ctx = SignedContext(key);
  auto reader = stub.WatchReport(ctx.get(), watch);
  v1::ReportJob state;
  while (reader->Read(&state)) t.job = state;
  reader->Finish();
  if (t.job.state() != v1::REPORT_STATE_READY) {
    std::fprintf(stderr, "report %lld: %s %s\n", static_cast<long long>(t.job.id()),
                 v1::ReportState_Name(t.job.state()).c_str(), t.job.error().c_str());
    return t;
  }
  t.client = absl::ToDoubleSeconds(absl::Now() - t0);
  t.server = Seconds(t.job.requested_at(), t.job.finished_at());
  return t;
}

std::string Download(v1::ReportService::Stub& stub, const aw::IdentityKey& key, int64_t id) {
  v1::DownloadReportRequest req;
  req.set_id(id);
  auto ctx = SignedContext(key);
  auto reader = stub.DownloadReport(ctx.get(), req);
  std::string bytes;
  v1::ReportChunk chunk;
  while (reader->Read(&chunk)) bytes += chunk.data();
  reader->Finish();
  return bytes;
}

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

template <typename Fn>
double Time(Fn fn) {
  const absl::Time t0 = absl::Now();
  fn();
  return absl::ToDoubleSeconds(absl::Now() - t0);
}


int Run() {
  aw::testing::TestDatabase db;
  const std::string secret = "the benchmark's identity key";
  const std::string key_file = aw::testing::IdentityKeyFile(secret);
  aw::testing::AuditwatchProcess process("ingest,monitor,audit,scoring,report", db.url(),
                                         {"--identity_key_file=" + key_file});
  if (aw::testing::WaitForHealth(process.address("report"), "", "SERVING") != "SERVING") {
    std::fprintf(stderr, "report did not start: %s\n", process.Logs().c_str());
    return 1;
  }
  std::filesystem::remove_all(std::filesystem::path(key_file).parent_path());
  const aw::IdentityKey key(secret);
  auto ingest = v1::IngestService::NewStub(process.Channel("ingest"));
  auto scoring = v1::ScoringService::NewStub(process.Channel("scoring"));
  auto report = v1::ReportService::NewStub(process.Channel("report"));
  const SyntheticProvince province(kSeed, kYear);
  if (!aw::demo::LoadCatalogue(*ingest, province, "bench").status.ok()) return 1;
  {
    grpc::ClientContext ctx;
    v1::ImportReadingsResponse summary;
    auto stream = ingest->ImportReadings(&ctx, &summary);
    province.ForEachBatch(5000, [&](v1::ReadingBatch& b) { return stream->Write(b); });
    stream->WritesDone();
    if (const grpc::Status s = stream->Finish(); !s.ok()) return 1;
    std::printf("loaded %zu units and %d readings of %d\n", province.units().size(), summary.accepted(), kYear);
  }
  v1::UpsertSchemeRequest up;
  *up.mutable_scheme() = aw::demo::DefaultScheme(province);
  v1::Scheme scheme;
  if (!scoring->UpsertScheme(SignedContext(key).get(), up, &scheme).ok()) return 1;
  for (int m = 1; m <= 12; ++m) {
    v1::RunEvaluationRequest run;
    run.mutable_period()->set_key(absl::StrFormat("%d-%02d", kYear, m));
    run.set_publish(true);
    v1::EvaluationRun out;
    if (const grpc::Status s = scoring->RunEvaluation(SignedContext(key).get(), run, &out); !s.ok()) {
      std::fprintf(stderr, "RunEvaluation: %s\n", s.error_message().c_str());
      return 1;
    }
  }
  std::printf("evaluated and published the twelve months\n\n");
  std::fflush(stdout);

  const std::string month = absl::StrCat(kYear, "-12");
  // 1. The monthly summary of the province.
  std::printf("monthly summary of the province (P, %s), Excel with charts (target: under 5 s request → stored)\n",
              month.c_str());
  std::printf("  %-44s %9s %9s %10s\n", "", "stored s", "client s", "bytes");
  v1::ReportDocument doc;
  for (int rep = 1; rep <= 3; ++rep) {
    const Timed xlsx = Generate(*report, key, aw::testing::ReportParamsOf(v1::REPORT_KIND_MONTHLY_SUMMARY, v1::EXPORT_FORMAT_XLSX, "P", month));
    const Timed json = Generate(*report, key, aw::testing::ReportParamsOf(v1::REPORT_KIND_MONTHLY_SUMMARY, v1::EXPORT_FORMAT_JSON, "P", month));
    if (xlsx.server < 0 || json.server < 0) return 1;
    if (rep == 1 &&
        !google::protobuf::util::JsonStringToMessage(Download(*report, key, json.job.id()), &doc).ok()) {
      return 1;
    }
    absl::StatusOr<std::string> written;
    const double render = Time([&] { written = aw::report::RenderXlsx(doc); });
    if (!written.ok()) return 1;
    std::printf("  %-44s %9.3f %9.3f %10lld\n", absl::StrCat("Excel, rep ", rep).c_str(), xlsx.server, xlsx.client,
                static_cast<long long>(xlsx.job.size_bytes()));
    std::printf("  %-44s %9.3f %9.3f %10lld\n", "  baseline: the same report in JSON", json.server, json.client,
                static_cast<long long>(json.job.size_bytes()));
    std::printf("  %-44s %9.3f %9s %10zu\n", "  baseline: RenderXlsx alone (direct call)", render, "-",
                written->size());
  }
  int rows = 0, charts = 0;
  for (const auto& p : doc.parts()) {
    rows += p.rows_size();
    charts += p.charts_size();
  }
  std::printf("  the document: %d sheets, %d rows, %d charts\n\n", doc.parts_size(), rows, charts);

  // 2. One station's evaluation in HTML.
  const std::string station = "C02-D04-S01";
  std::printf("evaluation of %s, %s, HTML (target: under 300 ms request → stored)\n", station.c_str(), month.c_str());
  std::vector<double> server, client, direct, render;
  v1::ReportDocument eval_doc;
  for (int rep = 0; rep < 20; ++rep) {
    const Timed html = Generate(*report, key, aw::testing::ReportParamsOf(v1::REPORT_KIND_EVALUATION, v1::EXPORT_FORMAT_HTML, station, month));
    if (html.server < 0) return 1;
    server.push_back(html.server);
    client.push_back(html.client);
    direct.push_back(Time([&] {
      v1::GetEvaluationRequest ge;
      ge.set_unit_code(station);
      ge.mutable_period()->set_key(month);
      ge.set_weakest(5);
      v1::Evaluation e;
      scoring->GetEvaluation(SignedContext(key).get(), ge, &e);
      v1::GetTrendRequest tr;
      tr.set_unit_code(station);
      tr.mutable_periods()->mutable_first()->set_key(absl::StrCat(kYear, "-01"));
      tr.mutable_periods()->mutable_last()->set_key(month);
      v1::GetTrendResponse t;
      scoring->GetTrend(SignedContext(key).get(), tr, &t);
      v1::ForecastRequest fr;
      fr.set_unit_code(station);
      fr.mutable_through()->set_key(month);
      v1::ForecastResponse f;
      scoring->Forecast(SignedContext(key).get(), fr, &f);
    }));
    if (rep == 0) {
      const Timed json =
          Generate(*report, key, aw::testing::ReportParamsOf(v1::REPORT_KIND_EVALUATION, v1::EXPORT_FORMAT_JSON, station, month));
      if (!google::protobuf::util::JsonStringToMessage(Download(*report, key, json.job.id()), &eval_doc).ok()) return 1;
    }
    render.push_back(Time([&] { (void)aw::report::RenderHtml(eval_doc); }));
  }
  auto line = [](const char* what, const std::vector<double>& v) {
    std::printf("  %-44s median %7.1f ms   p90 %7.1f ms   max %7.1f ms\n", what, 1000 * Quantile(v, 0.5),
                1000 * Quantile(v, 0.9), 1000 * Quantile(v, 1.0));
  };
  line("request → stored (as the service recorded it)", server);
  line("request → READY seen by the client", client);
  line("  baseline: its scoring calls alone", direct);
  line("  baseline: RenderHtml alone (direct call)", render);
  return 0;
}

}  // namespace

int main() { return Run(); }
