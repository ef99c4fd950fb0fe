#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace rampart::bench {

namespace {
constexpr std::uint64_t sub_count = 1ULL << histogram::sub_bits;  // 128
constexpr std::uint64_t exact_limit = 2 * sub_count;               // values below are exact
}  // namespace

histogram::histogram() : counts_(bucket_count(), 0) {}

std::size_t histogram::index_of(std::uint64_t ns) {
  if (ns > max_trackable) ns = max_trackable;
  if (ns < exact_limit) return static_cast<std::size_t>(ns);
  const unsigned top_bit = 63u - static_cast<unsigned>(std::countl_zero(ns));  // >= sub_bits + 1
  const unsigned shift = top_bit - sub_bits;                                    // >= 1
  const std::uint64_t top = ns >> shift;                                        // [128, 256)
  return static_cast<std::size_t>(exact_limit + (shift - 1) * sub_count + (top - sub_count));
}

std::uint64_t histogram::lowest_of(std::size_t index) {
  if (index < exact_limit) return index;
  const std::uint64_t rel = index - exact_limit;
  const unsigned shift = static_cast<unsigned>(rel / sub_count) + 1;
  return (sub_count + rel % sub_count) << shift;
}

std::uint64_t histogram::width_of(std::size_t index) {
  if (index < exact_limit) return 1;
  return 1ULL << (static_cast<unsigned>((index - exact_limit) / sub_count) + 1);
}

std::size_t histogram::bucket_count() { return index_of(max_trackable) + 1; }

void histogram::record(std::uint64_t ns) {
  ++counts_[index_of(ns)];
  if (count_ == 0 || ns < min_) min_ = ns;
  if (ns > max_) max_ = ns;
  ++count_;
  sum_ += ns;
}

void histogram::merge(const histogram& other) {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ ? std::min(min_, other.min_) : other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void histogram::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = min_ = max_ = 0;
  sum_ = 0;
}

std::uint64_t histogram::percentile(double p) const {
  if (count_ == 0) return 0;
  if (p >= 100.0) return max_;
  if (p < 0.0) p = 0.0;
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t mid = lowest_of(i) + (width_of(i) - 1) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace rampart::bench
