// JSON-lines logging on stderr through spdlog: one object per line with ts (UTC),
// level, logger (the service or component) and msg — or, for a record logger,
// the record's own fields.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace aw {

// Sets the level and JSON format of every logger; call once at start-up.
void InitLogging(std::string_view level);

// The logger named `name` (created on first use, sharing the stderr sink).
std::shared_ptr<spdlog::logger> Logger(const std::string& name);

// A logger of records: each line is {"ts", "level", "logger"} and the fields of
// the record (an access log line, say), written by LogRecord. Its lines reach
// stderr in blocks of 64 KiB, or when its owner calls flush() — at least every
// second, as the gateway does (Envoy's access log is flushed the same way).
std::shared_ptr<spdlog::logger> RecordLogger(const std::string& name);
void LogRecord(spdlog::logger& logger, const nlohmann::json& record);

}  // namespace aw
