// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by zlib and `crc32` tools.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rampart::upstream {

// Continues a CRC-32 over `n` bytes at `data`. Start with crc = 0; the value returned after the
// last chunk is the CRC of everything fed so far (no separate finalisation step).
std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t n);

}  // namespace rampart::upstream
