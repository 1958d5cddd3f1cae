// JSON-lines logging on stderr through spdlog: one object per line with ts (UTC),
// level, logger (the service or component) and msg.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace aw {

// Sets the level and JSON format of every logger; call once at start-up.
void InitLogging(std::string_view level);

// The logger named `name` (created on first use, sharing the stderr sink).
std::shared_ptr<spdlog::logger> Logger(const std::string& name);

}  // namespace aw
