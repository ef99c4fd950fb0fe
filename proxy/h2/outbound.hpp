// What the server and client codecs share on their sending side: one stream's outbound body
// (DATA the owner queued, then its trailers, handed to nghttp2's data provider) and the helpers
// for writing header fields onto HTTP/2 (name-value records, the Connection field's list).
#pragma once
#include "http/message.hpp"

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::h2 {

// nghttp2's view of a field (no copy: the bytes must outlive the submit call). An empty view
// may hold no pointer; nghttp2 gets "" for it.
nghttp2_nv make_nv(std::string_view name, std::string_view value) noexcept;

// Whether any field is named Connection, and whether `name` is one of the comma-separated
// tokens of such a field (case-insensitively): fields a Connection lists are hop-by-hop.
bool has_connection_field(std::span<const http::Header> fields) noexcept;
bool listed_in_connection(std::span<const http::Header> fields, std::string_view name) noexcept;

// One stream's outbound body. The owner queues bytes (append) and ends it, with or without
// trailers; nghttp2's data provider reads from it (read: how much the next DATA frame carries,
// or "deferred" while nothing is queued) and the send callback moves the bytes out (send). The
// queue's size is the owner's to watch: past `mark` bytes it should pause its source, and send
// reports when the queue has fallen back below the mark.
class OutboundBody {
 public:
  std::size_t queued() const { return out_.size() - head_; }
  bool ended() const { return eof_; }  // nothing more will be queued

  // Queues `data`; end_stream ends the body. A queue that reaches `mark` bytes is remembered:
  // send() reports when it has drained below.
  void append(std::string_view data, bool end_stream, std::size_t mark);
  void end() { eof_ = true; }  // nothing (more) will be queued
  // Ends the body with these trailers after the queued bytes: names lower-cased, the fields
  // `drop(fields, field, has_connection)` refuses left out. No field left: a plain end.
  template <typename Drop>
  void end_with_trailers(std::span<const http::Header> trailers, Drop drop) {
    const bool has_connection = has_connection_field(trailers);
    trailer_bytes_.clear();
    trailer_refs_.clear();
    for (const http::Header& h : trailers) {
      if (drop(trailers, h, has_connection)) continue;
      add_trailer(h);
    }
    eof_ = true;
  }

  // The data provider's answer for a frame of up to `length` bytes: NGHTTP2_ERR_DEFERRED while
  // nothing is queued and the body goes on (take_deferred() then tells the owner to resume the
  // stream when it queues more), else the frame's length with `flags` set (NO_COPY; EOF on the
  // last bytes). When the body ends with trailers, NO_END_STREAM is set too and `trailer_nva`
  // holds them for the caller to submit; otherwise `trailer_nva` is left empty.
  long read(std::size_t length, std::uint32_t* flags, std::vector<nghttp2_nv>& trailer_nva);
  // True (once) when the provider was deferred since: the owner resumes the stream's data.
  bool take_deferred() {
    const bool was = deferred_;
    deferred_ = false;
    return was;
  }
  // Moves the next `length` queued bytes to `out` (the caller checked queued() >= length).
  // Returns true when the queue had reached `mark` and is now below it.
  bool send(std::string& out, std::size_t length, std::size_t mark);

  // Back to empty for a recycled stream; a queue grown past 64 KiB is freed.
  void clear();

 private:
  void add_trailer(const http::Header& h);

  std::string out_;  // [head_, out_.size()) is queued
  std::size_t head_ = 0;
  bool eof_ = false;
  bool deferred_ = false;   // the data provider returned DEFERRED: resume on new data
  bool over_mark_ = false;  // the queue reached the mark: report when it drains below
  std::string trailer_bytes_;  // lower-cased names and values back to back
  struct TrailerRef {
    std::uint32_t name_off, name_len, value_off, value_len;
  };
  std::vector<TrailerRef> trailer_refs_;
};

}  // namespace rampart::h2
