// YAML -> ConfigSpec with strict validation. No Asio, no OpenSSL.
#pragma once
#include "config/spec.hpp"

#include <optional>
#include <string>
#include <vector>

namespace rampart::config {

// Reads `path` and every file its `include:` globs name, validates the whole shape and every
// cross-reference, and returns the spec. On any error returns nullopt; `diagnostics` then holds
// every error found (not just the first), each with file:line:col and key path.
// Thread: any; touches only the filesystem.
std::optional<ConfigSpec> load(const std::string& path, std::vector<Diagnostic>& diagnostics);

// Same, from text already in memory (`file_name` is used in marks and to resolve includes
// relative to its directory). Used by unit tests.
std::optional<ConfigSpec> load_string(const std::string& text, const std::string& file_name,
                                      std::vector<Diagnostic>& diagnostics);

// The effective merged config as YAML (what `rampart dump` prints): includes resolved, defaults
// filled in, every key explicit. Re-loading the output yields an equal spec.
std::string dump(const ConfigSpec& spec);

}  // namespace rampart::config
