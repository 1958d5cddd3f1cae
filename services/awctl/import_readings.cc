// awctl import-readings FILE.csv: manual readings from a CSV file, sent
// through the gateway's IngestReadings in batches, with a progress bar and a
// report of every row that was not applied.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "auditwatch/v1/gateway.grpc.pb.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/awctl/commands.h"
#include "services/awctl/readings_csv.h"

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;

// The first 16 hex digits of the SHA-256 of the file: batch ids built on it
// make importing the same file again apply nothing twice.
std::string FileDigest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Sha256Hex(in).substr(0, 16);
}

// Writes `errors` as CSV (row,code,field,message) with libcsv's quoting.
bool WriteErrors(const std::string& path, const std::vector<v1::RowError>& errors) {
  FILE* out = std::fopen(path.c_str(), "w");
  if (out == nullptr) return false;
  auto field = [&](const std::string& s, bool last) {
    csv_fwrite(out, s.data(), s.size());
    std::fputc(last ? '\n' : ',', out);
  };
  field("row", false);
  field("code", false);
  field("field", false);
  field("message", true);
  for (const auto& e : errors) {
    field(absl::StrCat(e.index()), false);
    field(e.code(), false);
    field(e.field(), false);
    field(e.message(), true);
  }
  return std::fclose(out) == 0;
}

}  // namespace

int ImportReadings(const Flags& flags) {
  if (flags.positional().size() != 1) {
    std::fprintf(stderr, "awctl import-readings: name one CSV file\n");
    return 2;
  }
  const std::string path = flags.positional()[0];
  int batch_size = 0;
  if (!absl::SimpleAtoi(flags.Get("batch", "500"), &batch_size) || batch_size < 1 || batch_size > 10000) {
    std::fprintf(stderr, "awctl import-readings: --batch takes 1..10000 rows\n");
    return 2;
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    std::fprintf(stderr, "awctl import-readings: cannot read %s\n", path.c_str());
    return 1;
  }
  const int64_t size = in.tellg();
  in.seekg(0);
  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  // Who is importing: the rows say so, and the gateway holds them to it.
  v1::Principal me;
  {
    grpc::ClientContext ctx;
    if (grpc::Status s = v1::GatewayService::NewStub(channel)->WhoAmI(&ctx, v1::WhoAmIRequest(), &me); !s.ok()) {
      return Failed("WhoAmI", s);
    }
  }
  std::fprintf(stderr, "importing %s as %s%s\n", path.c_str(), me.subject().c_str(),
               me.unit_codes().empty() ? ""
                                       : absl::StrCat(" (units ", absl::StrJoin(me.unit_codes(), ", "), ")").c_str());

  auto stub = v1::IngestService::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->IngestReadings(&ctx);
  const std::string digest = FileDigest(path);
  const std::string source = flags.Get("source", "manual");
  const bool all_or_nothing = flags.Get("all-or-nothing", "false") == "true";

  // The row numbers of each batch sent, to name the rows of its errors.
  std::mutex mu;
  std::vector<std::vector<int>> sent_rows;
  std::vector<v1::RowError> errors;  // of the server, by file row
  std::atomic<int> applied_batches{0}, accepted{0};

  std::thread reader([&] {
    v1::BatchResult result;
    while (stream->Read(&result)) {
      std::lock_guard<std::mutex> lock(mu);
      int batch = 0;
      absl::SimpleAtoi(result.batch_id().substr(result.batch_id().rfind('-') + 1), &batch);
      for (v1::RowError e : result.errors()) {
        if (batch < static_cast<int>(sent_rows.size()) && e.index() < static_cast<int>(sent_rows[batch].size())) {
          e.set_index(sent_rows[batch][e.index()]);
        }
        errors.push_back(std::move(e));
      }
      accepted += result.accepted();
      ++applied_batches;
    }
  });

  v1::ReadingBatch batch;
  std::vector<int> rows;
  bool stream_open = true;
  auto send = [&] {
    if (batch.rows().empty() || !stream_open) return;
    {
      std::lock_guard<std::mutex> lock(mu);
      batch.set_batch_id(absl::StrCat("csv-", digest, "-", sent_rows.size()));
      sent_rows.push_back(rows);
    }
    batch.set_source(source);
    batch.set_all_or_nothing(all_or_nothing);
    stream_open = stream->Write(batch);  // false: the call has ended (its status says why)
    batch.clear_rows();
    rows.clear();
  };
  ReadingsCsv csv([&](int row, v1::ReadingInput reading) {
    reading.set_entered_by(me.subject());
    *batch.add_rows() = std::move(reading);
    rows.push_back(row);
    if (batch.rows_size() >= batch_size) send();
  });
  ProgressBar progress("importing", size);
  char buf[1 << 16];
  int64_t read = 0;
  bool readable = true;
  while (readable && stream_open && (in.read(buf, sizeof buf) || in.gcount() > 0)) {
    read += in.gcount();
    readable = csv.Feed(buf, in.gcount());
    progress.Show(read, absl::StrCat(csv.rows(), " rows read, ", applied_batches.load(), " batches applied"));
  }
  if (readable) readable = csv.Finish();
  if (readable) send();
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  progress.Show(size, absl::StrCat(csv.rows(), " rows read, ", applied_batches.load(), " batches applied"), /*last=*/true);
  progress.Done();

  for (const auto& e : csv.errors()) errors.push_back(e);
  std::sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) { return a.index() < b.index(); });
  std::printf("%d rows read, %d readings applied, %zu rows rejected, in %d batches\n", csv.rows(), accepted.load(),
              errors.size(), applied_batches.load());
  for (const auto& e : errors) {
    std::printf("  row %d: %s %s: %s\n", e.index(), e.code().c_str(), e.field().c_str(), e.message().c_str());
  }
  if (flags.Has("errors")) {
    if (!WriteErrors(flags.Get("errors", ""), errors)) {
      std::fprintf(stderr, "awctl import-readings: cannot write %s\n", flags.Get("errors", "").c_str());
      return 1;
    }
    std::printf("rejected rows written to %s\n", flags.Get("errors", "").c_str());
  }
  if (!readable) {
    std::fprintf(stderr, "awctl import-readings: %s: %s (nothing after it was sent)\n", path.c_str(),
                 csv.fatal().c_str());
    return 1;
  }
  if (!status.ok()) {
    Failed("IngestReadings", status);
    std::fprintf(stderr, "the batches after the %d applied were not\n", applied_batches.load());
    return 1;
  }
  return errors.empty() ? 0 : 1;
}

}  // namespace aw::awctl
