#include "response_reader.hpp"

#include <algorithm>
#include <cstring>

namespace rampart::bench {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Calls f(token) for each comma-separated, trimmed, non-empty list element.
template <class F>
void for_each_token(std::string_view list, F f) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

void response_reader::start(bool head_request) {
  state_ = state::status_line;
  head_request_ = head_request;
  status_ = 0;
  keep_alive_ = true;
  chunked_ = has_length_ = has_te_ = false;
  length_ = bytes_ = 0;
  head_bytes_ = 0;
  line_.clear();
  error_ = "";
}

bool response_reader::fail(const char* why) {
  error_ = why;
  return false;
}

response_reader::result response_reader::feed(const char* data, std::size_t size, std::size_t& used) {
  used = 0;
  while (used < size) {
    switch (state_) {
      case state::done:
        return result::complete;
      case state::body_length:
      case state::chunk_data: {
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(length_, size - used));
        used += take;
        bytes_ += take;
        length_ -= take;
        if (length_ == 0) state_ = state_ == state::body_length ? state::done : state::chunk_end;
        break;
      }
      case state::body_eof:
        bytes_ += size - used;
        used = size;
        break;
      default: {  // a line-oriented state
        const char* begin = data + used;
        const auto* lf = static_cast<const char*>(std::memchr(begin, '\n', size - used));
        const std::size_t avail = lf ? static_cast<std::size_t>(lf - begin) + 1 : size - used;
        const bool in_head = state_ == state::status_line || state_ == state::header || state_ == state::trailer;
        const std::size_t limit = in_head ? max_head_bytes : 4096;
        const std::size_t pending = line_.size();  // earlier part of this line
        if (head_bytes_ + pending + avail > limit) {
          fail(in_head ? "response head too large" : "chunk size line too long");
          used += avail;
          bytes_ += avail;
          return result::error;
        }
        used += avail;
        bytes_ += avail;
        if (!lf) {
          line_.append(begin, avail);
          break;
        }
        std::string_view line;
        if (line_.empty()) {
          line = std::string_view(begin, avail - 1);
        } else {
          line_.append(begin, avail - 1);
          line = line_;
        }
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (in_head) head_bytes_ += pending + avail;
        const bool ok = on_line(line);
        line_.clear();
        if (!ok) return result::error;
        break;
      }
    }
  }
  return state_ == state::done ? result::complete : result::need_more;
}

response_reader::result response_reader::on_eof() {
  if (state_ == state::done) return result::complete;
  if (state_ == state::body_eof) {
    state_ = state::done;
    keep_alive_ = false;
    return result::complete;
  }
  fail(bytes_ == 0 ? "connection closed before the response" : "connection closed mid-response");
  return result::error;
}

bool response_reader::on_line(std::string_view line) {
  switch (state_) {
    case state::status_line:
      return on_status_line(line);
    case state::header:
      if (line.empty()) return on_head_end();
      return on_header(line);
    case state::chunk_size:
      return on_chunk_size(line);
    case state::chunk_end:
      if (!line.empty()) return fail("chunk data longer than its size");
      state_ = state::chunk_size;
      return true;
    case state::trailer:
      if (line.empty()) {
        state_ = state::done;
        return true;
      }
      if (line.front() == ' ' || line.front() == '\t') return fail("folded trailer line");
      if (line.find(':') == std::string_view::npos) return fail("trailer line without a colon");
      return true;
    default:
      return fail("internal: line in a body state");
  }
}

bool response_reader::on_status_line(std::string_view line) {
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') return fail("bad status line");
  if (line[7] != '0' && line[7] != '1') return fail("unsupported HTTP version");
  if (line.size() > 12 && line[12] != ' ') return fail("bad status line");
  unsigned code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return fail("bad status code");
    code = code * 10 + static_cast<unsigned>(line[i] - '0');
  }
  if (code < 100 || code > 599) return fail("status code out of range");
  status_ = code;
  keep_alive_ = line[7] == '1';
  chunked_ = has_length_ = has_te_ = false;
  length_ = 0;
  state_ = state::header;
  return true;
}

bool response_reader::on_header(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') return fail("folded header line");
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return fail("header line without a name");
  const std::string_view name = line.substr(0, colon);
  if (!std::all_of(name.begin(), name.end(), is_token_char)) return fail("bad header name");
  const std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, "content-length")) {
    std::uint64_t n = 0;
    if (value.empty() || value.size() > 18) return fail("bad Content-Length");
    for (char c : value) {
      if (c < '0' || c > '9') return fail("bad Content-Length");
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (has_length_ && n != length_) return fail("conflicting Content-Length headers");
    has_length_ = true;
    length_ = n;
  } else if (iequals(name, "transfer-encoding")) {
    has_te_ = true;
    bool last_chunked = false;
    for_each_token(value, [&](std::string_view t) { last_chunked = iequals(t, "chunked"); });
    chunked_ = last_chunked;
  } else if (iequals(name, "connection")) {
    for_each_token(value, [&](std::string_view t) {
      if (iequals(t, "close")) keep_alive_ = false;
      else if (iequals(t, "keep-alive")) keep_alive_ = true;
    });
  }
  return true;
}

bool response_reader::on_head_end() {
  if (status_ >= 100 && status_ < 200 && status_ != 101) {  // interim: the final response follows
    state_ = state::status_line;
    head_bytes_ = 0;
    return true;
  }
  if (has_te_ && has_length_) return fail("both Content-Length and Transfer-Encoding");
  head_bytes_ = 0;
  if (status_ == 101) {  // the connection now speaks another protocol: nothing more for us
    keep_alive_ = false;
    state_ = state::done;
  } else if (head_request_ || status_ == 204 || status_ == 304) {
    state_ = state::done;
  } else if (chunked_) {
    state_ = state::chunk_size;
  } else if (has_te_) {  // a transfer coding without chunked: the body runs to the close
    keep_alive_ = false;
    state_ = state::body_eof;
  } else if (has_length_) {
    state_ = length_ == 0 ? state::done : state::body_length;
  } else {
    keep_alive_ = false;
    state_ = state::body_eof;
  }
  return true;
}

bool response_reader::on_chunk_size(std::string_view line) {
  std::uint64_t n = 0;
  std::size_t i = 0;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    unsigned digit;
    if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
    else if (c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') digit = static_cast<unsigned>(c - 'A' + 10);
    else break;
    if (n >> 59) return fail("chunk size too large");
    n = n * 16 + digit;
  }
  if (i == 0) return fail("bad chunk size");
  const std::string_view rest = trim(line.substr(i));
  if (!rest.empty() && rest.front() != ';') return fail("bad chunk size");
  if (n == 0) {
    state_ = state::trailer;
    head_bytes_ = 0;
  } else {
    length_ = n;
    state_ = state::chunk_data;
  }
  return true;
}

}  // namespace rampart::bench
