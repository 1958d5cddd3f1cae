// Manual readings from a CSV file (awctl import-readings), parsed with libcsv:
// a header row naming the columns — unit_code, indicator_code, period and
// value, and optionally reason — then one reading a row, in any column
// order; UTF-8, with or without a byte-order mark (as Excel writes it).
// Rows that cannot become a reading are reported by row number, with a code
// and the field, like the ingest service's own per-row errors.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <csv.h>

#include "auditwatch/v1/common.pb.h"
#include "auditwatch/v1/ingest.pb.h"

namespace aw::awctl {

class ReadingsCsv {
 public:
  // `row_ready` gets each reading with its row number (the header is row 1).
  using RowReady = std::function<void(int row, auditwatch::v1::ReadingInput reading)>;

  explicit ReadingsCsv(RowReady row_ready);
  ~ReadingsCsv();
  ReadingsCsv(const ReadingsCsv&) = delete;
  ReadingsCsv& operator=(const ReadingsCsv&) = delete;

  // Parses the next bytes of the file; false when the file cannot be read on
  // (bad quoting, or a header without the columns needed: see fatal()).
  bool Feed(const char* data, size_t size);
  // The end of the file.
  bool Finish();

  // Why the file cannot be read; empty while it can.
  const std::string& fatal() const { return fatal_; }
  // Rows that did not become readings ("index" is the row number).
  const std::vector<auditwatch::v1::RowError>& errors() const { return errors_; }
  int rows() const { return row_ - 1; }  // data rows seen so far

 private:
  static void OnField(void* field, size_t size, void* self);
  static void OnRowEnd(int terminator, void* self);
  void Field(std::string value);
  void RowEnd();
  void Reject(const std::string& code, const std::string& field, const std::string& message);

  RowReady row_ready_;
  csv_parser parser_;
  std::vector<std::string> fields_;  // of the row being read
  std::map<std::string, int> columns_;  // header name → index
  int row_ = 0;                          // of the row being read, 1 = the header
  bool first_field_ = true;              // a byte-order mark may lead the file
  std::string fatal_;
  std::vector<auditwatch::v1::RowError> errors_;
};

}  // namespace aw::awctl
