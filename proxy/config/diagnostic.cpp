// Diagnostic::str(): the compiler-like one-line form of a config error.
#include "config/spec.hpp"

namespace rampart::config {

std::string Diagnostic::str() const {
  std::string out = mark.file;
  if (mark.line > 0) {
    out += ":" + std::to_string(mark.line) + ":" + std::to_string(mark.col);
  }
  out += out.empty() ? "error: " : ": error: ";
  out += message;
  if (!key_path.empty()) out += " [" + key_path + "]";
  return out;
}

}  // namespace rampart::config
