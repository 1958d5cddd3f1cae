#include "services/awctl/client.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace aw::awctl {

Flags::Flags(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    const size_t eq = a.find('=');
    if (!absl::StartsWith(a, "--")) {
      positional_.push_back(a);
    } else if (eq == std::string::npos) {
      values_.emplace_back(a.substr(2), "true");  // --json
    } else {
      values_.emplace_back(a.substr(2, eq - 2), a.substr(eq + 1));
    }
  }
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  for (const auto& [k, v] : values_) {
    if (k == name) return v;
  }
  return fallback;
}

std::vector<std::string> Flags::All(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values_) {
    if (k == name) out.push_back(v);
  }
  return out;
}

bool Flags::Has(const std::string& name) const {
  for (const auto& [k, v] : values_) {
    if (k == name) return true;
  }
  return false;
}

std::string Flags::Unknown(const std::vector<std::string>& known) const {
  static const std::vector<std::string> kConnection = {"gateway", "key-file", "token-file", "tls-ca"};
  for (const auto& [k, v] : values_) {
    if (std::find(known.begin(), known.end(), k) == known.end() &&
        std::find(kConnection.begin(), kConnection.end(), k) == kConnection.end()) {
      return "--" + k;
    }
  }
  return "";
}

namespace {

// Adds one metadata entry to every call of a channel.
class AddMetadata final : public grpc::experimental::Interceptor {
 public:
  AddMetadata(std::string key, std::string value) : key_(std::move(key)), value_(std::move(value)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(key_, value_);
    }
    methods->Proceed();
  }

 private:
  std::string key_, value_;
};

class AddMetadataFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  AddMetadataFactory(std::string key, std::string value) : key_(std::move(key)), value_(std::move(value)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new AddMetadata(key_, value_);
  }

 private:
  std::string key_, value_;
};

// The first line of `path`, whitespace trimmed.
absl::StatusOr<std::string> ReadSecret(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot read ", path));
  }
  return std::string(absl::StripAsciiWhitespace(line));
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

}  // namespace

std::shared_ptr<grpc::Channel> ChannelWithMetadata(const std::string& address, const std::string& key,
                                                   const std::string& value,
                                                   std::shared_ptr<grpc::ChannelCredentials> credentials,
                                                   const grpc::ChannelArguments& args) {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<AddMetadataFactory>(key, value));
  return grpc::experimental::CreateCustomChannelWithInterceptors(address, std::move(credentials), args,
                                                                 std::move(interceptors));
}

std::string GatewayAddress(const Flags& flags) {
  const std::string env = Env("AW_GATEWAY");
  return flags.Get("gateway", env.empty() ? "127.0.0.1:7100" : env);
}

absl::StatusOr<std::string> ApiKey(const Flags& flags) {
  if (flags.Has("key-file")) return ReadSecret(flags.Get("key-file", ""), "--key-file");
  return Env("AW_API_KEY");
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenGateway(const Flags& flags, bool need_credentials) {
  std::shared_ptr<grpc::ChannelCredentials> transport = grpc::InsecureChannelCredentials();
  const std::string ca = flags.Get("tls-ca", Env("AW_GATEWAY_CA"));
  if (!ca.empty()) {
    std::ifstream in(ca, std::ios::binary);
    grpc::SslCredentialsOptions options;
    options.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (options.pem_root_certs.empty()) return absl::InvalidArgumentError(absl::StrCat("--tls-ca: cannot read ", ca));
    transport = grpc::SslCredentials(options);
  }
  const std::string address = GatewayAddress(flags);
  std::string token;
  if (flags.Has("token-file")) {
    auto t = ReadSecret(flags.Get("token-file", ""), "--token-file");
    if (!t.ok()) return t.status();
    token = *t;
  } else {
    token = Env("AW_TOKEN");
  }
  if (!token.empty()) return ChannelWithMetadata(address, "authorization", "Bearer " + token, transport);
  auto key = ApiKey(flags);
  if (!key.ok()) return key.status();
  if (!key->empty()) return ChannelWithMetadata(address, "x-api-key", *key, transport);
  if (need_credentials) {
    return absl::UnauthenticatedError(
        "no credentials: give an API key with --key-file=PATH or AW_API_KEY, or a token with --token-file=PATH or "
        "AW_TOKEN");
  }
  return grpc::CreateChannel(address, transport);
}

std::shared_ptr<grpc::Channel> Connect(const Flags& flags, bool need_credentials) {
  auto channel = OpenGateway(flags, need_credentials);
  if (channel.ok()) return *std::move(channel);
  std::fprintf(stderr, "awctl: %s\n", std::string(channel.status().message()).c_str());
  return nullptr;
}

bool Refused(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return false;
  Failed(what, status);
  return true;
}

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

int Failed(const std::string& what, const grpc::Status& status) {
  // gRPC's codes are Abseil's, number for number.
  std::fprintf(stderr, "awctl: %s: %s: %s\n", what.c_str(),
               absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())).c_str(),
               status.error_message().c_str());
  return 1;
}

std::string Sha256Hex(std::istream& in) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) EVP_DigestUpdate(md, buf, in.gcount());
  unsigned char digest[32];
  unsigned int n = 0;
  EVP_DigestFinal_ex(md, digest, &n);
  EVP_MD_CTX_free(md);
  return absl::BytesToHexString(std::string(reinterpret_cast<char*>(digest), n));
}

ProgressBar::ProgressBar(std::string verb, int64_t total)
    : verb_(std::move(verb)), total_(std::max<int64_t>(total, 1)), tty_(isatty(2)) {}

void ProgressBar::Show(int64_t done, const std::string& detail, bool last) {
  const int percent = static_cast<int>(100 * std::min(done, total_) / total_);
  if (!tty_ && !last && percent / 10 == last_tenth_) return;
  last_tenth_ = percent / 10;
  constexpr int kWidth = 30;
  const int filled = kWidth * percent / 100;
  std::fprintf(stderr, "%s%s [%s%s] %3d%%  %s%s", tty_ ? "\r" : "", verb_.c_str(), std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(), percent, detail.c_str(), tty_ ? "" : "\n");
  std::fflush(stderr);
}

void ProgressBar::Done() {
  if (tty_) std::fputc('\n', stderr);
}

}  // namespace aw::awctl
