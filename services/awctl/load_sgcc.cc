// awctl load-sgcc FILE: a consumption file in the SGCC layout (sgcc_csv.h)
// loaded through the gateway's IngestConsumption: every customer of the file
// under one supply station, with its daily kWh, in batches whose ids come
// from the file's SHA-256 (loading the file again applies nothing twice),
// with a progress bar; rows the file gets wrong are reported by line.
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "auditwatch/v1/ingest.grpc.pb.h"
#include "services/awctl/commands.h"
#include "services/awctl/sgcc_csv.h"

namespace aw::awctl {
namespace {

namespace v1 = ::auditwatch::v1;

constexpr int kCustomersPerBatch = 200;

}  // namespace

int LoadSgcc(const Flags& flags) {
  const std::string path = flags.positional()[0];
  const std::string station = flags.Get("station", "");
  if (station.empty()) {
    std::fprintf(stderr, "awctl load-sgcc: --station=CODE names the supply station of the file's customers\n");
    return 2;
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    std::fprintf(stderr, "awctl load-sgcc: cannot read %s\n", path.c_str());
    return 2;
  }
  const int64_t size = in.tellg();
  in.seekg(0);
  ProgressBar reading("reading", size);
  auto table = ReadSgcc(in, [&](int64_t bytes) { reading.Show(bytes, "parsing the file"); });
  reading.Show(size, "parsed", /*last=*/true);
  reading.Done();
  if (!table.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), std::string(table.status().message()).c_str());
    return 1;
  }
  int flagged = 0;
  for (const auto& r : table->rows) flagged += r.flag;
  std::fprintf(stderr, "%s: %zu customers over %d days from %s (%d flagged as theft), %zu rows refused\n",
               path.c_str(), table->rows.size(), table->days, absl::FormatCivilTime(table->first_day).c_str(),
               flagged, table->errors.size());
  for (size_t i = 0; i < table->errors.size() && i < 10; ++i) {
    std::fprintf(stderr, "  line %d: %s\n", table->errors[i].line, table->errors[i].message.c_str());
  }

  auto channel = Connect(flags);
  if (channel == nullptr) return 2;
  auto stub = v1::IngestService::NewStub(channel);
  std::ifstream again(path, std::ios::binary);
  const std::string digest = Sha256Hex(again).substr(0, 16);
  grpc::ClientContext ctx;
  auto stream = stub->IngestConsumption(&ctx);
  const int batches = static_cast<int>((table->rows.size() + kCustomersPerBatch - 1) / kCustomersPerBatch);
  absl::Mutex mu;
  int answered = 0, accepted = 0, rejected = 0, duplicates = 0;
  std::vector<v1::RowError> errors;
  std::thread reader([&] {
    v1::BatchResult result;
    while (stream->Read(&result)) {
      absl::MutexLock lock(&mu);
      ++answered;
      accepted += result.accepted();
      rejected += result.rejected();
      duplicates += result.duplicate() ? 1 : 0;
      for (const auto& e : result.errors()) errors.push_back(e);
    }
  });
  ProgressBar sending("loading", batches);
  const std::string first_day = absl::FormatCivilTime(table->first_day);
  bool open = true;
  for (int b = 0; b < batches && open; ++b) {
    v1::ConsumptionBatch batch;
    batch.set_batch_id(absl::StrCat("sgcc-", digest, "-", b));
    batch.set_source(flags.Get("source", "sgcc"));
    const size_t from = static_cast<size_t>(b) * kCustomersPerBatch;
    const size_t to = std::min(table->rows.size(), from + kCustomersPerBatch);
    for (size_t i = from; i < to; ++i) {
      const SgccRow& r = table->rows[i];
      v1::Customer* c = batch.add_rows()->mutable_customer();
      c->set_customer_id(r.customer);
      c->set_station_code(station);
      c->set_category(flags.Get("category", ""));
      v1::DailyConsumption* d = batch.add_rows()->mutable_daily();
      d->set_customer_id(r.customer);
      d->set_first_day(first_day);
      d->mutable_kwh()->Add(r.daily.begin(), r.daily.end());
    }
    open = stream->Write(batch);
    int done;
    {
      absl::MutexLock lock(&mu);
      done = answered;
    }
    sending.Show(b + 1, absl::StrCat(to, " customers sent, ", done, " batches applied"));
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status status = stream->Finish();
  sending.Show(batches, absl::StrCat(table->rows.size(), " customers sent, ", answered, " batches applied"),
               /*last=*/true);
  sending.Done();
  if (!status.ok()) return Failed("IngestConsumption", status);
  std::printf("loaded %s: %d rows accepted, %d refused, %d batches applied before (nothing applied twice)\n",
              path.c_str(), accepted, rejected, duplicates);
  for (size_t i = 0; i < errors.size() && i < 10; ++i) {
    std::printf("  batch row %d: %s %s: %s\n", errors[i].index(), errors[i].code().c_str(),
                errors[i].field().c_str(), errors[i].message().c_str());
  }
  return rejected == 0 && table->errors.empty() ? 0 : 1;
}

}  // namespace aw::awctl
