// Report-service helpers for end-to-end tests and benchmarks: a small
// province with three months, a half-year and a year evaluated and
// published (the two-county tree, RATE and LOSS, a warning rule on RATE),
// and generating a report through the gateway (queue, watch to the end,
// download).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "auditwatch/v1/monitor.grpc.pb.h"
#include "auditwatch/v1/report.grpc.pb.h"
#include "auditwatch/v1/scoring.grpc.pb.h"
#include "tests/support/gateway.h"
#include "tests/support/readings.h"
#include "tests/support/report_params.h"
#include "tests/support/rules.h"

namespace aw::testing {

inline std::unique_ptr<grpc::ClientContext> ReportDeadline(int seconds = 60) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

// What a generation went through: each state WatchReport sent, and the end.
struct Generated {
  std::vector<auditwatch::v1::ReportJob> seen;
  auditwatch::v1::ReportJob job;
  grpc::Status status;  // of GenerateReport
};

// Queues a report and watches it to its end.
inline Generated GenerateAndWatch(auditwatch::v1::ReportService::Stub& stub, const auditwatch::v1::ReportParams& params,
                                  const std::string& key) {
  Generated g;
  auditwatch::v1::GenerateReportRequest req;
  *req.mutable_params() = params;
  req.set_idempotency_key(key);
  g.status = stub.GenerateReport(ReportDeadline().get(), req, &g.job);
  if (!g.status.ok()) return g;
  auditwatch::v1::WatchReportRequest watch;
  watch.set_id(g.job.id());
  auto ctx = ReportDeadline(120);
  auto reader = stub.WatchReport(ctx.get(), watch);
  auditwatch::v1::ReportJob state;
  while (reader->Read(&state)) g.seen.push_back(state);
  const grpc::Status end = reader->Finish();
  INFO(end.error_message());
  REQUIRE(end.ok());
  REQUIRE(!g.seen.empty());
  g.job = g.seen.back();
  return g;
}

// The stored file of report `id` from `offset`, with the first chunk's header.
inline std::string DownloadReport(auditwatch::v1::ReportService::Stub& stub, int64_t id, int64_t offset = 0,
                                  auditwatch::v1::ReportChunk* header = nullptr, grpc::Status* status = nullptr) {
  auditwatch::v1::DownloadReportRequest req;
  req.set_id(id);
  req.set_offset(offset);
  auto ctx = ReportDeadline();
  auto reader = stub.DownloadReport(ctx.get(), req);
  std::string bytes;
  auditwatch::v1::ReportChunk chunk;
  bool first = true;
  while (reader->Read(&chunk)) {
    if (first && header != nullptr) *header = chunk;
    first = false;
    REQUIRE(chunk.offset() == offset + static_cast<int64_t>(bytes.size()));
    bytes += chunk.data();
  }
  const grpc::Status s = reader->Finish();
  if (status != nullptr) {
    *status = s;
  } else {
    INFO(s.error_message());
    REQUIRE(s.ok());
  }
  return bytes;
}

// The two-county tree (P → C1 → D1 {S1, S2}, D2 {S3}); RATE (main, base 90,
// full 100) and LOSS (process, base 5, full 1) for January to March, each
// month, H1 and the year evaluated and published; a warning rule on RATE
// (level 1 below 80, level 2 below 90) under the theme T-BILL.
class ReportProvince {
 public:
  explicit ReportProvince(Gateway& gw) : gw_(gw) {
    admin_scoring_ = auditwatch::v1::ScoringService::NewStub(gw_.Channel(gw_.admin_key()));
    auto monitor = auditwatch::v1::MonitorService::NewStub(gw_.Channel(gw_.admin_key()));
    CreateUnits(gw_.ingest(), TwoCounties(), "2025-01-01");
    for (const char* code : {"RATE", "LOSS"}) {
      CreateIndicator(gw_.ingest(),
                      {.code = code,
                       .period_types = {auditwatch::v1::PERIOD_TYPE_MONTH, auditwatch::v1::PERIOD_TYPE_HALF_YEAR,
                                        auditwatch::v1::PERIOD_TYPE_YEAR},
                       .direction = std::string(code) == "RATE" ? auditwatch::v1::DIRECTION_HIGHER_IS_BETTER
                                                                : auditwatch::v1::DIRECTION_LOWER_IS_BETTER});
    }
    auditwatch::v1::UpsertThemeRequest theme;
    theme.mutable_theme()->set_code("T-BILL");
    theme.mutable_theme()->set_name("电费回收");
    theme.mutable_theme()->set_category(auditwatch::v1::BUSINESS_CATEGORY_BILLING);
    auditwatch::v1::Theme saved_theme;
    REQUIRE(monitor->UpsertTheme(ReportDeadline().get(), theme, &saved_theme).ok());
    auditwatch::v1::UpsertRuleRequest rule;
    *rule.mutable_rule() =
        MakeRule("R-RATE", "T-BILL", auditwatch::v1::RULE_KIND_STATIC_THRESHOLD, "RATE", {80, 90});
    auditwatch::v1::Rule saved_rule;
    REQUIRE(monitor->UpsertRule(ReportDeadline().get(), rule, &saved_rule).ok());

    std::vector<Row> rows;
    const double rate[3][3] = {{95, 100, 85}, {96, 99, 88}, {97, 98, 79}};  // month × S1, S2, S3
    const double loss[3][3] = {{3, 1, 4}, {2, 1, 4}, {2, 2, 5}};
    const char* stations[] = {"S1", "S2", "S3"};
    for (int m = 0; m < 3; ++m) {
      for (int s = 0; s < 3; ++s) {
        const std::string month = absl::StrCat("2025-0", m + 1);
        rows.push_back({stations[s], "RATE", month, rate[m][s]});
        rows.push_back({stations[s], "LOSS", month, loss[m][s]});
      }
    }
    grpc::ClientContext ctx;
    auditwatch::v1::ImportReadingsResponse summary;
    auto stream = gw_.ingest().ImportReadings(&ctx, &summary);
    REQUIRE(stream->Write(MakeBatch("q1", rows)));
    stream->WritesDone();
    REQUIRE(stream->Finish().ok());
    REQUIRE(summary.rejected() == 0);

    auditwatch::v1::UpsertSchemeRequest up;
    auditwatch::v1::Scheme* scheme = up.mutable_scheme();
    scheme->set_year(2025);
    scheme->set_name("2025 评价方案");
    for (const auto& [code, cls, base, full] :
         {std::tuple{"RATE", auditwatch::v1::INDICATOR_CLASS_MAIN, 90.0, 100.0},
          std::tuple{"LOSS", auditwatch::v1::INDICATOR_CLASS_PROCESS, 5.0, 1.0}}) {
      auditwatch::v1::SchemeItem* it = scheme->add_items();
      it->set_indicator_code(code);
      it->set_class_(cls);
      it->add_unit_types(auditwatch::v1::UNIT_TYPE_SUPPLY_STATION);
      it->set_base_value(base);
      it->set_full_score_value(full);
      it->set_direction(full > base ? auditwatch::v1::DIRECTION_HIGHER_IS_BETTER
                                    : auditwatch::v1::DIRECTION_LOWER_IS_BETTER);
      it->set_points(10);
      it->set_enabled(true);
    }
    auditwatch::v1::Scheme saved;
    const grpc::Status s = admin_scoring_->UpsertScheme(ReportDeadline().get(), up, &saved);
    INFO(s.error_message());
    REQUIRE(s.ok());
    for (const char* period : {"2025-01", "2025-02", "2025-03", "2025-H1", "2025"}) {
      auditwatch::v1::RunEvaluationRequest run;
      run.mutable_period()->set_key(period);
      run.set_publish(true);
      auditwatch::v1::EvaluationRun out;
      const grpc::Status r = admin_scoring_->RunEvaluation(ReportDeadline().get(), run, &out);
      INFO(period << ": " << r.error_message());
      REQUIRE(r.ok());
    }
  }

  auditwatch::v1::ScoringService::Stub& scoring() { return *admin_scoring_; }

 private:
  Gateway& gw_;
  std::unique_ptr<auditwatch::v1::ScoringService::Stub> admin_scoring_;
};

}  // namespace aw::testing
