#include "common/log.h"

#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>

#include <google/protobuf/stubs/logging.h>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "absl/synchronization/mutex.h"

namespace aw {
namespace {

// %* in the pattern: the message as a JSON string (quoted and escaped by the
// JSON library; bytes that are not UTF-8 become U+FFFD).
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string quoted = nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

std::unique_ptr<spdlog::formatter> JsonFormatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->add_flag<JsonMessageFlag>('*').set_pattern(
      R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n","msg":%*})");
  return f;
}

// Lines gathered in memory and written to stderr in one write when 64 KiB
// have gathered or on flush(): a busy access log costs a system call a block,
// not a line. Lines stay whole, so they do not mix with other loggers' lines.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    buffer_.append(formatted.data(), formatted.size());
    if (buffer_.size() >= kBlockBytes) flush_();
  }
  void flush_() override {
    size_t at = 0;
    while (at < buffer_.size()) {
      const ssize_t n = ::write(2, buffer_.data() + at, buffer_.size() - at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stderr is gone: nothing to be done
      at += static_cast<size_t>(n);
    }
    buffer_.clear();
  }

 private:
  static constexpr size_t kBlockBytes = 64 * 1024;
  std::string buffer_;
};

// A record's fields follow the line's own, as they are (LogRecord writes them).
std::unique_ptr<spdlog::formatter> RecordFormatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  f->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n"%v})");
  return f;
}

}  // namespace

std::shared_ptr<spdlog::logger> Logger(const std::string& name) {
  if (auto existing = spdlog::get(name)) return existing;
  static auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  logger->set_formatter(JsonFormatter());
  logger->set_level(spdlog::get_level());
  logger->flush_on(spdlog::level::info);
  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(name);  // registered concurrently by another thread
  }
  return logger;
}

void InitLogging(std::string_view level) {
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
  spdlog::set_formatter(JsonFormatter());
  spdlog::flush_on(spdlog::level::info);
  // The protobuf library's own messages (a string field of a request that is
  // not UTF-8, say) become JSON lines too, as warnings at most: they describe
  // what a caller sent.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
        auto log = Logger("protobuf");
        if (level >= google::protobuf::LOGLEVEL_FATAL) {
          log->critical("{}:{}: {}", file, line, message);
        } else if (level >= google::protobuf::LOGLEVEL_WARNING) {
          log->warn("{}:{}: {}", file, line, message);
        } else {
          log->debug("{}:{}: {}", file, line, message);
        }
      });
}

std::shared_ptr<spdlog::logger> RecordLogger(const std::string& name) {
  // Kept out of spdlog's registry, whose set_formatter would give it the
  // message format.
  static absl::Mutex mu;
  static auto* loggers = new std::map<std::string, std::shared_ptr<spdlog::logger>>();
  absl::MutexLock lock(&mu);
  auto& logger = (*loggers)[name];
  if (logger == nullptr) {
    logger = std::make_shared<spdlog::logger>(name, std::make_shared<BufferedStderrSink>());
    logger->set_formatter(RecordFormatter());
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::off);  // its owner flushes it (see the header)
  }
  return logger;
}

void LogRecord(spdlog::logger& logger, const nlohmann::json& record) {
  std::string fields = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (fields.size() < 2 || fields.front() != '{') return;
  fields = fields.size() == 2 ? "" : "," + fields.substr(1, fields.size() - 2);
  logger.info("{}", fields);
}

}  // namespace aw
