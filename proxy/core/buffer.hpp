// A flat byte buffer with a read window [begin, end) inside one heap block. Used for connection
// input: parsed heads keep string_views into it, so it only moves (compacts or grows) when the
// owner says so — never behind a parser's back.
#pragma once
#include "core/block_pool.hpp"

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace rampart::core {

class FlatBuffer {
 public:
  // With a pool, blocks of the pool's size classes are borrowed from it and given back.
  explicit FlatBuffer(BlockPool* pool = nullptr) : pool_(pool) {}
  FlatBuffer(const FlatBuffer&) = delete;
  FlatBuffer& operator=(const FlatBuffer&) = delete;
  ~FlatBuffer() { drop(); }

  // Bytes received and not yet consumed.
  std::string_view data() const noexcept { return {mem_.get() + begin_, end_ - begin_}; }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  std::size_t capacity() const noexcept { return cap_; }

  // Writable space after the data. Call compact() or reserve() first if it is too small.
  char* write_ptr() noexcept { return mem_.get() + end_; }
  std::size_t write_space() const noexcept { return cap_ - end_; }
  void commit(std::size_t n) noexcept { end_ += n; }

  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;  // empty: restart at the front, free of charge
  }
  // Moves the data to the front. Invalidates views into data().
  void compact() noexcept {
    if (begin_ == 0) return;
    std::memmove(mem_.get(), mem_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // Ensures capacity >= n (compacting into a new block). Invalidates views into data().
  void reserve(std::size_t n) {
    if (n <= cap_) return;
    const std::size_t cls = pool_ ? BlockPool::size_class(n) : 0;
    if (cls) n = cls;
    auto fresh = cls ? pool_->take(cls) : std::make_unique_for_overwrite<char[]>(n);
    if (end_ > begin_) std::memcpy(fresh.get(), mem_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    drop();
    mem_ = std::move(fresh);
    cap_ = n;
  }
  // Gives the block back when empty (idle keep-alive connections hold no buffer).
  void release_if_empty() noexcept {
    if (begin_ == end_) {
      drop();
      begin_ = end_ = 0;
    }
  }
  void clear() noexcept { begin_ = end_ = 0; }
  void swap(FlatBuffer& o) noexcept {
    std::swap(pool_, o.pool_);
    std::swap(mem_, o.mem_);
    std::swap(cap_, o.cap_);
    std::swap(begin_, o.begin_);
    std::swap(end_, o.end_);
  }

 private:
  void drop() noexcept {
    if (mem_ && pool_ && BlockPool::size_class(cap_) == cap_) pool_->give(std::move(mem_), cap_);
    mem_.reset();
    cap_ = 0;
  }
  BlockPool* pool_ = nullptr;
  std::unique_ptr<char[]> mem_;
  std::size_t cap_ = 0, begin_ = 0, end_ = 0;
};

}  // namespace rampart::core
