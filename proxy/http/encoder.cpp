#include "http/encoder.hpp"

#include <libdeflate.h>

#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace rampart::http {
namespace {

// Every library allocation carries its size in a header, so that memory() can tell what is held.
constexpr std::size_t kHeader = alignof(std::max_align_t);

void* counted_alloc(std::size_t& counter, std::size_t n) {
  if (n > std::numeric_limits<std::size_t>::max() - kHeader) return nullptr;
  void* base = std::malloc(n + kHeader);
  if (!base) return nullptr;
  *static_cast<std::size_t*>(base) = n;
  counter += n + kHeader;
  return static_cast<char*>(base) + kHeader;
}

void counted_free(std::size_t& counter, void* p) {
  if (!p) return;
  char* base = static_cast<char*>(p) - kHeader;
  counter -= *reinterpret_cast<std::size_t*>(base) + kHeader;
  std::free(base);
}

voidpf zlib_alloc(voidpf opaque, uInt items, uInt size) {
  if (size != 0 && items > std::numeric_limits<std::size_t>::max() / size) return Z_NULL;
  return counted_alloc(*static_cast<std::size_t*>(opaque), static_cast<std::size_t>(items) * size);
}
void zlib_free(voidpf opaque, voidpf p) { counted_free(*static_cast<std::size_t*>(opaque), p); }
void* brotli_alloc(void* opaque, std::size_t n) { return counted_alloc(*static_cast<std::size_t*>(opaque), n); }
void brotli_free(void* opaque, void* p) { counted_free(*static_cast<std::size_t*>(opaque), p); }

// Output room for one library call: about half the input (text compresses better than that; the
// loops double it when the library fills it), never tiny, and in steps bounded so that a huge input
// does not zero-fill a huge tail at once.
constexpr std::size_t kMinRoom = 256;
constexpr std::size_t kMaxRoom = std::size_t{1} << 20;
std::size_t first_room(std::size_t input) { return std::min(input / 2 + kMinRoom, kMaxRoom); }
std::size_t next_room(std::size_t room) { return std::min(room * 2, kMaxRoom); }

// zlib counts in uInt: larger inputs are fed in slices of this size.
constexpr std::size_t kZlibSlice = std::size_t{1} << 30;
// The most input brotli is handed in one call.
constexpr std::size_t kBrotliSlice = std::size_t{16} << 10;

}  // namespace

std::string_view coding_name(Coding c) noexcept {
  switch (c) {
    case Coding::gzip:
      return "gzip";
    case Coding::br:
      return "br";
    case Coding::identity:
      break;
  }
  return "identity";
}

// Heap-allocated on first begin() so that the counters the allocation hooks point at never move.
struct Encoder::State {
  std::size_t zlib_bytes = 0;
  std::size_t brotli_bytes = 0;
  z_stream z{};
  bool z_ready = false;  // deflateInit2 done; deflateEnd pending
  int z_level = 0;       // the level z runs at
  BrotliEncoderState* br = nullptr;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (z_ready) deflateEnd(&z);
    drop_brotli();
  }
  void drop_brotli() {
    if (br) BrotliEncoderDestroyInstance(br);
    br = nullptr;
  }
  void init_zlib(int level) {
    z = z_stream{};
    z.zalloc = zlib_alloc;
    z.zfree = zlib_free;
    z.opaque = &zlib_bytes;
    // windowBits 15 + 16: a gzip wrapper around a 32 KiB deflate window; memLevel 8 (zlib's default).
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("zlib: cannot start a gzip stream (out of memory)");
    z_ready = true;
    z_level = level;
  }
};

Encoder::Encoder() noexcept = default;
Encoder::~Encoder() = default;
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;

void Encoder::begin(Coding c, int level, std::optional<std::uint64_t> size_hint) {
  if (!state_) state_ = std::make_unique<State>();
  State& s = *state_;
  active_ = false;
  coding_ = c;
  s.drop_brotli();  // an unfinished brotli stream is abandoned
  switch (c) {
    case Coding::identity:
      break;
    case Coding::gzip: {
      level = std::clamp(level, 1, 9);
      if (!s.z_ready) {
        s.init_zlib(level);
        break;
      }
      // Reset keeps every buffer. After a reset deflateParams has nothing to flush; should it still
      // refuse, start over with a fresh state.
      bool reused = deflateReset(&s.z) == Z_OK;
      if (reused && level != s.z_level) {
        s.z.next_in = Z_NULL;
        s.z.avail_in = 0;
        s.z.next_out = Z_NULL;
        s.z.avail_out = 0;
        reused = deflateParams(&s.z, level, Z_DEFAULT_STRATEGY) == Z_OK;
        if (reused) s.z_level = level;
      }
      if (!reused) {
        deflateEnd(&s.z);
        s.z_ready = false;
        s.init_zlib(level);
      }
      break;
    }
    case Coding::br: {
      s.br = BrotliEncoderCreateInstance(brotli_alloc, brotli_free, &s.brotli_bytes);
      if (!s.br) throw std::runtime_error("brotli: cannot start a stream (out of memory)");
      // The smallest window that still covers a body of known size: less memory on both sides.
      int lgwin = kBrotliMaxWindowBits;
      if (size_hint) {
        while (lgwin > BROTLI_MIN_WINDOW_BITS && (std::uint64_t{1} << (lgwin - 1)) - 16 >= *size_hint) --lgwin;
      }
      bool ok = BrotliEncoderSetParameter(s.br, BROTLI_PARAM_QUALITY,
                                          static_cast<std::uint32_t>(std::clamp(level, BROTLI_MIN_QUALITY, BROTLI_MAX_QUALITY)));
      ok = ok && BrotliEncoderSetParameter(s.br, BROTLI_PARAM_LGWIN, static_cast<std::uint32_t>(lgwin));
      // Capped below 1 MiB: from there on quality 4 switches to a hasher of over 5 MiB.
      if (size_hint)
        ok = ok && BrotliEncoderSetParameter(s.br, BROTLI_PARAM_SIZE_HINT,
                                             static_cast<std::uint32_t>(std::min<std::uint64_t>(*size_hint, (1u << 20) - 1)));
      if (!ok) {
        s.drop_brotli();
        throw std::runtime_error("brotli: a parameter was refused");
      }
      break;
    }
  }
  active_ = true;
}

void Encoder::gzip_run(std::string_view in, std::string& out, int flush_mode) {
  z_stream& z = state_->z;
  // Inputs over 1 GiB go in slices; only the last slice carries the flush.
  while (in.size() > kZlibSlice) {
    gzip_run(in.substr(0, kZlibSlice), out, Z_NO_FLUSH);
    in.remove_prefix(kZlibSlice);
  }
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::size_t room = first_room(in.size());
  for (;;) {
    const std::size_t old = out.size();
    out.resize(old + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + old);
    z.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&z, flush_mode);
    out.resize(old + room - z.avail_out);
    if (rc == Z_STREAM_ERROR) throw std::runtime_error("zlib: deflate failed");
    if (flush_mode == Z_FINISH) {
      if (rc == Z_STREAM_END) break;
    } else if (z.avail_out != 0) {
      break;  // all input taken and, for a flush, all of it out (zlib stops early only when out of room)
    }
    room = next_room(room);
  }
  z.next_in = Z_NULL;
  z.next_out = Z_NULL;
}

void Encoder::brotli_run(std::string_view in, std::string& out, int operation) {
  BrotliEncoderState* br = state_->br;
  const auto op = static_cast<BrotliEncoderOperation>(operation);
  // Input goes in slices of kBrotliSlice: brotli sizes some buffers after the input it is handed
  // at once (at quality 0..1 wholly), so slices keep the state within the documented bound.
  std::size_t room = first_room(std::min(in.size(), kBrotliSlice));
  do {
    const std::string_view slice = in.substr(0, kBrotliSlice);
    in.remove_prefix(slice.size());
    const auto slice_op = in.empty() ? op : BROTLI_OPERATION_PROCESS;
    std::size_t avail_in = slice.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(slice.data());
    for (;;) {
      const std::size_t old = out.size();
      out.resize(old + room);
      std::size_t avail_out = room;
      auto* next_out = reinterpret_cast<std::uint8_t*>(out.data() + old);
      const bool ok = BrotliEncoderCompressStream(br, slice_op, &avail_in, &next_in, &avail_out, &next_out, nullptr);
      out.resize(old + room - avail_out);
      if (!ok) throw std::runtime_error("brotli: compression failed");
      if (avail_in == 0 && !BrotliEncoderHasMoreOutput(br) &&
          (slice_op != BROTLI_OPERATION_FINISH || BrotliEncoderIsFinished(br)))
        break;
      if (avail_out == 0) room = next_room(room);
    }
  } while (!in.empty());
}

void Encoder::write(std::string_view in, std::string& out, bool flush) {
  if (!active_) throw std::logic_error("Encoder::write without begin()");
  switch (coding_) {
    case Coding::identity:
      out.append(in);
      break;
    case Coding::gzip:
      if (in.empty() && !flush) break;
      gzip_run(in, out, flush ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      break;
    case Coding::br:
      if (in.empty() && !flush) break;
      brotli_run(in, out, flush ? BROTLI_OPERATION_FLUSH : BROTLI_OPERATION_PROCESS);
      break;
  }
}

void Encoder::finish(std::string& out) {
  if (!active_) throw std::logic_error("Encoder::finish without begin()");
  active_ = false;
  switch (coding_) {
    case Coding::identity:
      break;
    case Coding::gzip:
      gzip_run({}, out, Z_FINISH);
      break;
    case Coding::br:
      brotli_run({}, out, BROTLI_OPERATION_FINISH);
      state_->drop_brotli();
      break;
  }
}

std::size_t Encoder::memory() const noexcept {
  if (!state_) return 0;
  return sizeof(State) + state_->zlib_bytes + state_->brotli_bytes;
}

WholeGzip::~WholeGzip() {
  if (compressor_) libdeflate_free_compressor(compressor_);
}

void WholeGzip::compress(int level, std::string_view in, std::string& out) {
  level = std::clamp(level, 1, 9);
  if (!compressor_ || level != level_) {
    if (compressor_) libdeflate_free_compressor(compressor_);
    compressor_ = libdeflate_alloc_compressor(level);
    level_ = level;
    if (!compressor_) throw std::runtime_error("libdeflate: out of memory");
  }
  const std::size_t old = out.size();
  const std::size_t bound = libdeflate_gzip_compress_bound(compressor_, in.size());
  out.resize(old + bound);
  const std::size_t n = libdeflate_gzip_compress(compressor_, in.data(), in.size(), out.data() + old, bound);
  if (n == 0) throw std::runtime_error("libdeflate: output larger than its bound");
  out.resize(old + n);
}

}  // namespace rampart::http
