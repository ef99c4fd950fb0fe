// Streaming response-body compression: gzip (zlib) and brotli behind one small interface.
//
// One Encoder per worker, reused for every compressed response of that worker: begin() starts a
// stream, write() feeds body bytes as they arrive, finish() ends the stream. Output is appended to
// a caller-owned std::string (the session's reusable buffer), written straight into its tail.
//
// Memory (measured through the libraries' allocator hooks, see memory()):
//  - gzip (windowBits 15, memLevel 8): 262 KiB of zlib state at any level, kept between streams so
//    that the next gzip stream only pays deflateReset (no allocation);
//  - brotli: the window is at most 2^16 bytes (kBrotliMaxWindowBits) and shrinks to fit a known
//    body size; input is handed over in 16 KiB slices. A stream then peaks at about 0.15 MiB
//    (quality 0..1), 0.9 MiB (2..3), 1.9 MiB (4..8), 2.6 MiB (9), 3.5 MiB (10), 5.8 MiB (11),
//    whatever the body length, and far less for small bodies of known size (a 4 KiB body at
//    quality 4: about 10 KiB). A window of 2^17 or more would switch qualities 5..9 to hashers of
//    3 to 38 MiB per stream for a compression gain of 1-2 %. Brotli has no reset, so its state is
//    created by begin() and released by finish() (an idle encoder holds no brotli memory).
//
// Thread: an Encoder is used by one thread at a time (its worker); it is not shared.
// Errors: the libraries fail only when memory runs out; that surfaces as std::runtime_error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct libdeflate_compressor;  // libdeflate.h

namespace rampart::http {

enum class Coding : std::uint8_t { identity, gzip, br };

// The Content-Encoding token of a coding: "identity", "gzip", "br".
std::string_view coding_name(Coding c) noexcept;

class Encoder {
 public:
  // Brotli's largest window (log2 bytes): bounds the encoder state and the client's decoder window.
  static constexpr int kBrotliMaxWindowBits = 16;

  Encoder() noexcept;  // allocates nothing until the first begin()
  ~Encoder();
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // Starts a new stream, abandoning any unfinished one. `level`: gzip 1..9, brotli 0..11 (clamped
  // into range). `size_hint`: the body's length when known (brotli sizes its window from it).
  // A gzip stream at any level reuses the zlib state of earlier gzip streams (deflateReset, plus
  // deflateParams when the level changes). Identity passes bytes through unchanged.
  void begin(Coding c, int level, std::optional<std::uint64_t> size_hint = std::nullopt);

  // Compresses `in` and appends whatever output is ready to `out`. With `flush`, everything fed so
  // far becomes decodable from the output so far (Z_SYNC_FLUSH / BROTLI_OPERATION_FLUSH): use it
  // before waiting on a slow upstream. Precondition: begin() was called and finish() was not since
  // (otherwise std::logic_error).
  void write(std::string_view in, std::string& out, bool flush = false);

  // Ends the stream (gzip trailer, brotli last block), appending the rest of the output. Same
  // precondition as write(). Afterwards the encoder is idle until the next begin().
  void finish(std::string& out);

  // Bytes held by the compressor state right now (approximate: library allocations plus their
  // bookkeeping).
  std::size_t memory() const noexcept;

  Coding coding() const noexcept { return coding_; }
  bool active() const noexcept { return active_; }

 private:
  struct State;  // zlib stream, brotli instance, allocation counters (heap, created on first begin)
  void gzip_run(std::string_view in, std::string& out, int flush_mode);
  void brotli_run(std::string_view in, std::string& out, int operation);

  std::unique_ptr<State> state_;
  Coding coding_ = Coding::identity;
  bool active_ = false;
};

// One-shot gzip of a whole body held in memory (a response of known, small length): libdeflate,
// which at the same level is faster than zlib and compresses at least as well (a 20 KB JSON at
// level 6: about 30% less CPU and 4% fewer bytes). The compressor of the last level used is kept.
// One per worker; compress() never waits, so it is never in use by two responses at once.
class WholeGzip {
 public:
  WholeGzip() = default;
  ~WholeGzip();
  WholeGzip(const WholeGzip&) = delete;
  WholeGzip& operator=(const WholeGzip&) = delete;
  // Appends the gzip member of `in` to `out`. `level` 1..9 (clamped). Throws std::runtime_error
  // when memory runs out.
  void compress(int level, std::string_view in, std::string& out);

 private:
  ::libdeflate_compressor* compressor_ = nullptr;
  int level_ = 0;
};

}  // namespace rampart::http
