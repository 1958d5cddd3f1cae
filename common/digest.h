// SHA-256 digests: of one string, or of a stream of parts (the canonical
// bytes of a run's inputs, say) fed one after another.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace aw {

// The 32 raw bytes of SHA-256(bytes).
std::string Sha256(absl::string_view bytes);

// SHA-256 over everything added, in order. Numbers are added in a fixed byte
// order, so equal inputs give equal digests on every machine.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;

  // A string, preceded by its length (so "ab","c" and "a","bc" differ).
  Sha256Stream& Add(absl::string_view bytes);
  Sha256Stream& Add(int64_t n);
  // The exact bits of `x` (so 0.1 + 0.2 and 0.3 differ).
  Sha256Stream& Add(double x);
  // The digest as 64 lowercase hex digits; the stream is spent.
  std::string Hex();

 private:
  void Raw(const void* data, size_t size);
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace aw
