// awctl report: a report generated through the gateway as the caller. Queues
// the job, prints its progress as the service streams it, downloads the file
// in chunks (resuming from the last byte received when the stream breaks),
// checks its SHA-256 and prints where it was saved. --id downloads a report
// generated before.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "auditwatch/v1/report.grpc.pb.h"
#include "services/awctl/commands.h"

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;

std::unique_ptr<grpc::ClientContext> Context(int seconds) { return Deadline(seconds); }

const std::map<std::string, v1::ReportKind>& Kinds() {
  static const auto* kinds = new std::map<std::string, v1::ReportKind>{
      {"evaluation", v1::REPORT_KIND_EVALUATION},
      {"daily-audit", v1::REPORT_KIND_DAILY_AUDIT},
      {"weekly-analysis", v1::REPORT_KIND_WEEKLY_ANALYSIS},
      {"monthly-summary", v1::REPORT_KIND_MONTHLY_SUMMARY},
      {"theme-analysis", v1::REPORT_KIND_THEME_ANALYSIS}};
  return *kinds;
}

const std::map<std::string, v1::ExportFormat>& Formats() {
  static const auto* formats = new std::map<std::string, v1::ExportFormat>{
      {"xlsx", v1::EXPORT_FORMAT_XLSX}, {"html", v1::EXPORT_FORMAT_HTML}, {"csv", v1::EXPORT_FORMAT_CSV},
      {"xml", v1::EXPORT_FORMAT_XML},   {"json", v1::EXPORT_FORMAT_JSON}};
  return *formats;
}

std::string RandomKey() {
  std::random_device rd;
  return absl::StrCat("awctl-", rd(), "-", rd());
}

// Downloads report `id` into `dir`; the saved path, or "" (having said why).
std::string Download(v1::ReportService::Stub& stub, const v1::ReportJob& job, const std::string& dir) {
  std::filesystem::create_directories(dir);
  const std::string path = (std::filesystem::path(dir) / job.file_name()).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  int64_t offset = 0;
  for (int attempt = 0; attempt < 5 && offset < job.size_bytes(); ++attempt) {
    v1::DownloadReportRequest req;
    req.set_id(job.id());
    req.set_offset(offset);
    auto ctx = Context(300);
    auto reader = stub.DownloadReport(ctx.get(), req);
    v1::ReportChunk chunk;
    while (reader->Read(&chunk)) {
      out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      offset += static_cast<int64_t>(chunk.data().size());
    }
    const grpc::Status s = reader->Finish();
    if (!s.ok() && s.error_code() != grpc::StatusCode::UNAVAILABLE) {
      Failed(absl::StrCat("DownloadReport ", job.id()), s);
      return "";
    }
  }
  out.close();
  std::ifstream in(path, std::ios::binary);
  if (offset != job.size_bytes() || Sha256Hex(in) != job.sha256()) {
    std::fprintf(stderr, "report %lld: the downloaded file does not match its size and SHA-256\n",
                 static_cast<long long>(job.id()));
    return "";
  }
  return path;
}

}  // namespace

int Report(const Flags& flags) {
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  auto stub = v1::ReportService::NewStub(channel);
  const std::string dir = flags.Get("out", "reports");
  v1::ReportJob job;
  if (flags.Has("id")) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(flags.Get("id", ""), &id)) {
      std::fprintf(stderr, "awctl report: --id must be a report id\n");
      return 2;
    }
    v1::GetReportRequest get;
    get.set_id(id);
    if (const grpc::Status s = stub->GetReport(Context(30).get(), get, &job); !s.ok()) return Failed("GetReport", s);
  } else {
    v1::GenerateReportRequest req;
    v1::ReportParams* p = req.mutable_params();
    const std::string kind = flags.Get("kind", "");
    const std::string format = flags.Get("format", "xlsx");
    if (!Kinds().count(kind) || !Formats().count(format)) {
      std::fprintf(stderr,
                   "awctl report: --kind is one of evaluation, daily-audit, weekly-analysis, monthly-summary, "
                   "theme-analysis; --format one of xlsx, html, csv, xml, json\n");
      return 2;
    }
    p->set_kind(Kinds().at(kind));
    p->set_format(Formats().at(format));
    p->mutable_scope()->set_unit_code(flags.Get("unit", ""));
    p->mutable_scope()->set_include_descendants(flags.Get("descendants", "true") == "true");
    p->mutable_period()->set_key(flags.Get("period", ""));
    p->set_measure(flags.Get("measure", ""));
    int depth = 0;
    if (flags.Has("depth") && !absl::SimpleAtoi(flags.Get("depth", ""), &depth)) {
      std::fprintf(stderr, "awctl report: --depth must be a number\n");
      return 2;
    }
    p->set_depth(depth);
    req.set_idempotency_key(flags.Get("request-id", RandomKey()));
    if (const grpc::Status s = stub->GenerateReport(Context(60).get(), req, &job); !s.ok()) {
      return Failed("GenerateReport", s);
    }
    // Progress as the service streams it, one line per stage.
    v1::WatchReportRequest watch;
    watch.set_id(job.id());
    auto ctx = Context(1800);
    auto reader = stub->WatchReport(ctx.get(), watch);
    std::string last_stage;
    v1::ReportJob state;
    while (reader->Read(&state)) {
      job = state;
      if (state.stage() != last_stage) {
        std::fprintf(stderr, "  report %lld: %3d%%  %s\n", static_cast<long long>(state.id()),
                     state.progress_percent(), state.stage().c_str());
        last_stage = state.stage();
      }
    }
    if (const grpc::Status s = reader->Finish(); !s.ok()) return Failed("WatchReport", s);
  }
  if (job.state() != v1::REPORT_STATE_READY) {
    std::fprintf(stderr, "report %lld ended %s: %s\n", static_cast<long long>(job.id()),
                 v1::ReportState_Name(job.state()).c_str(), job.error().c_str());
    return 1;
  }
  const std::string path = Download(*stub, job, dir);
  if (path.empty()) return 1;
  std::printf("report %lld  %-16s %9lld bytes  sha256 %.16s…  %s\n", static_cast<long long>(job.id()),
              v1::ExportFormat_Name(job.params().format()).substr(14).c_str(),
              static_cast<long long>(job.size_bytes()), job.sha256().c_str(), path.c_str());
  return 0;
}

}  // namespace aw::awctl
