#include "common/digest.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <bit>
#include <cstring>

#include "absl/strings/escaping.h"

namespace aw {

std::string Sha256(absl::string_view bytes) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

struct Sha256Stream::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256Stream::Sha256Stream() : state_(std::make_unique<State>()) {
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}
Sha256Stream::~Sha256Stream() = default;

void Sha256Stream::Raw(const void* data, size_t size) { EVP_DigestUpdate(state_->ctx, data, size); }

Sha256Stream& Sha256Stream::Add(int64_t n) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(static_cast<uint64_t>(n) >> (8 * i));
  Raw(b, sizeof b);
  return *this;
}

Sha256Stream& Sha256Stream::Add(double x) { return Add(std::bit_cast<int64_t>(x)); }

Sha256Stream& Sha256Stream::Add(absl::string_view bytes) {
  Add(static_cast<int64_t>(bytes.size()));
  Raw(bytes.data(), bytes.size());
  return *this;
}

std::string Sha256Stream::Hex() {
  unsigned char out[SHA256_DIGEST_LENGTH];
  unsigned int size = 0;
  EVP_DigestFinal_ex(state_->ctx, out, &size);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(out), size));
}

}  // namespace aw
