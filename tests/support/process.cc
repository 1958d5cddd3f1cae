#include "tests/support/process.h"


#include "auditwatch/v1/gateway.grpc.pb.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/awctl/client.h"

namespace aw::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parses {"metrics":1,"ingest":2,...}; empty while the file is incomplete.
std::map<std::string, int> ParsePorts(const std::string& text) {
  std::map<std::string, int> ports;
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return ports;
  for (const auto& [name, port] : json.items()) {
    if (port.is_number_integer()) ports[name] = port.get<int>();
  }
  return ports;
}

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

}  // namespace

AuditwatchProcess::AuditwatchProcess(const std::string& target, const std::string& database_url,
                                     const std::vector<std::string>& extra_args) {
  char tmpl[] = "/tmp/aw-e2e-XXXXXX";
  dir_ = mkdtemp(tmpl);
  const std::string ports_file = dir_ + "/ports.json";
  std::vector<std::string> args = {
      std::getenv("AW_BINARY") != nullptr ? std::getenv("AW_BINARY") : AW_BINARY_PATH,
      "--target=" + target,     "--database_url=" + database_url,
      "--listen_host=127.0.0.1", "--metrics_port=0",    "--ports_file=" + ports_file,
      "--health_interval=100ms", "--drain_timeout=5s",  "--db_pool_size=2",
      "--workers=2"};
  for (const char* svc : {"gateway", "ingest", "monitor", "audit", "scoring", "report"}) {
    args.push_back(absl::StrCat("--", svc, "_port=0"));
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  const std::string log = dir_ + "/auditwatch.log";

  pid_ = fork();
  if (pid_ == 0) {
    std::freopen(log.c_str(), "w", stderr);
    std::freopen(log.c_str(), "a", stdout);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::perror("execv");
    _exit(127);
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (absl::Now() < give_up) {
    ports_ = ParsePorts(ReadFile(ports_file));
    if (!ports_.empty()) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;  // exited early; tests look at Logs() and running()
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("auditwatch did not write its ports file: " + Logs());
}

AuditwatchProcess::~AuditwatchProcess() {
  if (pid_ > 0) Stop(SIGKILL, absl::Seconds(10));
}

std::string AuditwatchProcess::address(const std::string& service) const {
  return absl::StrCat("127.0.0.1:", port(service));
}

std::shared_ptr<grpc::Channel> ChannelWithMetadata(const std::string& address, const std::string& key,
                                                   const std::string& value, const grpc::ChannelArguments& args) {
  return awctl::ChannelWithMetadata(address, key, value, grpc::InsecureChannelCredentials(), args);
}

bool WaitUntil(const std::function<bool()>& pred, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

double MetricValue(const AuditwatchProcess& process, const std::string& name, const std::string& label) {
  const std::string body = HttpGet(process.metrics_port(), "/metrics");
  const std::string series = name + "{";
  for (size_t at = body.find(series); at != std::string::npos; at = body.find(series, at + 1)) {
    if (at > 0 && body[at - 1] != '\n') continue;  // a longer name ending in this one
    const std::string line = body.substr(at, body.find('\n', at) - at);
    if (line.find(label) != std::string::npos) return std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return -1;
}

grpc::Status BootstrapAdminKey(const std::shared_ptr<grpc::Channel>& channel, std::string* secret) {
  auto gateway = auditwatch::v1::GatewayService::NewStub(channel);
  auditwatch::v1::CreateApiKeyRequest req;
  req.mutable_principal()->set_subject("ops.admin");
  req.mutable_principal()->add_roles(auditwatch::v1::ROLE_CENTRE_ADMIN);
  req.set_description("bootstrap");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auditwatch::v1::CreateApiKeyResponse resp;
  const grpc::Status s = gateway->CreateApiKey(&ctx, req, &resp);
  *secret = resp.secret();
  return s;
}

std::shared_ptr<grpc::Channel> AuditwatchProcess::Channel(const std::string& service) const {
  return grpc::CreateChannel(address(service), grpc::InsecureChannelCredentials());
}

int AuditwatchProcess::Stop(int sig, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  return WaitExit(timeout);
}

void AuditwatchProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int64_t AuditwatchProcess::RssKib() const {
  if (pid_ <= 0) return -1;
  std::istringstream status(ReadFile(absl::StrCat("/proc/", pid_, "/status")));
  for (std::string line; std::getline(status, line);) {
    int64_t kib = 0;
    if (absl::StartsWith(line, "VmRSS:") &&
        absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(line.substr(6)), " kB"), &kib)) {
      return kib;
    }
  }
  return -1;
}

int AuditwatchProcess::WaitExit(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  const absl::Time give_up = absl::Now() + timeout;
  while (absl::Now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string AuditwatchProcess::Logs() const { return ReadFile(dir_ + "/auditwatch.log"); }

std::string HealthOf(const std::string& address, const std::string& service) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status s = grpc::health::v1::Health::NewStub(channel)->Check(&ctx, request, &response);
  if (!s.ok()) return "UNREACHABLE: " + s.error_message();
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

std::string WaitForHealth(const std::string& address, const std::string& service,
                          const std::string& want, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  std::string last;
  do {
    last = HealthOf(address, service);
    if (last == want) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (absl::Now() < give_up);
  return last;
}

std::string HttpGet(int port, const std::string& path) {
  CURL* curl = curl_easy_init();
  std::string body;
  const std::string url = absl::StrCat("http://127.0.0.1:", port, path);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return rc == CURLE_OK ? body : "";
}

int RunCommand(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  output->clear();
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) output->append(buf, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace aw::testing
