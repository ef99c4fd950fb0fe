// Latency histogram of rampart-bench: log-linear buckets (HdrHistogram-like) over nanoseconds.
// Values below 256 ns are exact; above, each power of two is split into 128 buckets, so a
// bucket is at most 1/128 of its lowest value wide and a reported value (the bucket midpoint)
// is within 0.4% of every value recorded in that bucket, from 1 µs up to the 60 s ceiling
// (values above max_trackable land in the last bucket; min and max are kept exactly).
// One per event-loop thread, merged at the end; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rampart::bench {

class histogram {
 public:
  static constexpr unsigned sub_bits = 7;                          // 128 buckets per octave
  static constexpr std::uint64_t max_trackable = (1ULL << 36) - 1;  // ~68.7 s in ns

  histogram();

  void record(std::uint64_t ns);
  void merge(const histogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

  // The value at percentile `p` (0..100): the midpoint of the bucket holding the
  // ceil(p% * count)-th smallest value, clamped to [min, max]; 0 when empty; max for p >= 100.
  std::uint64_t percentile(double p) const;

  // Bucket arithmetic, exposed for the tests.
  static std::size_t index_of(std::uint64_t ns);
  static std::uint64_t lowest_of(std::size_t index);
  static std::uint64_t width_of(std::size_t index);
  static std::size_t bucket_count();

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;
};

}  // namespace rampart::bench
