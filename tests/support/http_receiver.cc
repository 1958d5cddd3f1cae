#include "tests/support/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace aw::testing {

HttpReceiver::HttpReceiver() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("HttpReceiver: cannot listen");
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

HttpReceiver::~HttpReceiver() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

std::string HttpReceiver::url() const { return absl::StrCat("http://127.0.0.1:", port_, "/sms"); }

std::vector<HttpReceiver::Request> HttpReceiver::accepted() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

void HttpReceiver::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd >= 0) Handle(fd);
  }
}

void HttpReceiver::Handle(int fd) {
  std::string data;
  char buf[4096];
  size_t header_end = std::string::npos;
  size_t length = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) break;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    data.append(buf, n);
    if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
      for (absl::string_view line : absl::StrSplit(absl::string_view(data).substr(0, header_end), "\r\n")) {
        if (absl::StartsWithIgnoreCase(line, "content-length:")) {
          absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(15)), &length);
        }
      }
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + length) break;
  }
  Request r;
  if (header_end != std::string::npos) {
    for (absl::string_view line : absl::StrSplit(absl::string_view(data).substr(0, header_end), "\r\n")) {
      if (absl::StartsWithIgnoreCase(line, "idempotency-key:")) {
        r.idempotency_key = std::string(absl::StripAsciiWhitespace(line.substr(16)));
      }
    }
    r.body = data.substr(header_end + 4);
  }
  const bool fail = failing_;
  const std::string answer = fail ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                                  : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  (void)!write(fd, answer.data(), answer.size());
  close(fd);
  if (fail) {
    ++refused_;
  } else {
    absl::MutexLock lock(&mu_);
    accepted_.push_back(std::move(r));
  }
}

}  // namespace aw::testing
