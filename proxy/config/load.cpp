// load()/load_string(): files and includes, the top-level keys, then the cross checks.
#include "config/load.hpp"

#include "config/parse.hpp"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace rampart::config {
namespace {

namespace fs = std::filesystem;
using detail::MapView;
using detail::Reader;
using detail::Value;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

std::string canonical_key(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::path(path), ec);
  return ec ? path : p.string();
}

bool is_glob(std::string_view pattern) { return pattern.find_first_of("*?[") != std::string_view::npos; }

// Matches of a glob pattern in lexical (byte) order; dot-files and non-regular files skipped.
std::vector<std::string> glob_files(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) {
      const fs::path p(g.gl_pathv[i]);
      std::error_code ec;
      if (p.filename().string().starts_with('.') || !fs::is_regular_file(p, ec)) continue;
      out.push_back(p.string());
    }
  }
  ::globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

constexpr std::string_view main_only_keys[] = {"version", "workers", "drain_timeout", "defaults", "shutdown_delay",
                                                "watch", "admin", "access_log", "log"};

// Reads one main file and its includes into a ConfigSpec. One instance per load() call.
class Loader {
 public:
  explicit Loader(std::vector<Diagnostic>& diagnostics) : diagnostics_(diagnostics), first_(diagnostics.size()) {}

  void load_main(const std::string& text, const std::string& file_name) {
    main_mark_ = Mark{file_name, 0, 0};
    read_text(text, file_name, canonical_key(file_name), /*is_main=*/true);
  }

  void main_unreadable(const std::string& path) {
    diagnostics_.push_back(Diagnostic{Mark{path, 0, 0}, "cannot read file", ""});
  }

  std::optional<ConfigSpec> finish() {
    // A main file that is not valid YAML would also look empty: say only what is wrong with it.
    detail::cross_check(spec_, xref_, main_parsed_ ? &main_mark_ : nullptr, diagnostics_);
    // Report in file order, then position, so that output reads like a compiler's.
    auto file_index = [&](const Diagnostic& d) {
      auto it = std::find(spec_.files.begin(), spec_.files.end(), d.mark.file);
      return it - spec_.files.begin();
    };
    std::stable_sort(diagnostics_.begin() + static_cast<std::ptrdiff_t>(first_), diagnostics_.end(),
                     [&](const Diagnostic& a, const Diagnostic& b) {
                       return std::tuple(file_index(a), a.mark.line, a.mark.col) <
                              std::tuple(file_index(b), b.mark.line, b.mark.col);
                     });
    if (diagnostics_.size() != first_) return std::nullopt;
    return std::move(spec_);
  }

 private:
  void read_text(const std::string& text, const std::string& display, const std::string& key, bool is_main) {
    spec_.files.push_back(display);
    stack_.push_back({key, display});
    done_.insert(key);
    Reader r(display, diagnostics_);
    try {
      const YAML::Node root = YAML::Load(text);
      if (is_main) main_parsed_ = true;
      read_root(r, root, display, is_main);
    } catch (const YAML::Exception& e) {
      r.error(e.mark, "", e.msg);
    }
    stack_.pop_back();
  }

  void read_root(Reader& r, const YAML::Node& root, const std::string& display, bool is_main) {
    if (is_main && root.IsDefined() && !root.IsNull()) main_mark_ = r.mark(root.Mark());
    if (root.IsNull()) return;  // an empty file
    MapView m(r, Value{root, root.Mark(), ""},
              {"version", "workers", "drain_timeout", "shutdown_delay", "watch", "admin", "access_log", "log", "include",
               "listeners", "defaults", "servers", "upstreams", "policies"});
    if (!m.ok()) return;
    if (is_main) {
      read_main_only(r, m);
    } else {
      for (std::string_view key : main_only_keys) {
        if (auto v = m.get(key)) {
          r.error(v->mark, v->path, "'" + std::string(key) + "' is only allowed in the main file");
        }
      }
    }
    if (auto v = m.get("listeners")) {
      if (auto items = detail::read_list(r, *v)) {
        for (const Value& item : *items) spec_.listeners.push_back(detail::parse_listener(r, item, xref_));
      }
    }
    if (auto v = m.get("upstreams")) {
      if (auto items = detail::read_list(r, *v)) {
        for (const Value& item : *items) spec_.upstreams.push_back(detail::parse_upstream(r, item, xref_));
      }
    }
    if (auto v = m.get("policies")) {
      if (auto items = detail::read_list(r, *v)) {
        for (const Value& item : *items) spec_.policies.push_back(detail::parse_policy(r, item, xref_));
      }
    }
    if (auto v = m.get("servers")) {
      if (auto items = detail::read_list(r, *v)) {
        for (const Value& item : *items) {
          spec_.servers.push_back(detail::parse_server(r, item, spec_.servers.size(), xref_));
        }
      }
    }
    if (auto v = m.get("include")) read_includes(r, *v, display);
  }

  void read_main_only(Reader& r, const MapView& m) {
    if (auto v = m.get("version")) {
      if (auto n = detail::read_uint(r, *v, 0, UINT32_MAX)) {
        if (*n == 1) spec_.version = 1;
        else r.error(v->mark, v->path, "unsupported version " + std::to_string(*n) + " (expected 1)");
      }
    }
    detail::assign(m, "workers", spec_.workers, [&](const Value& x) { return detail::read_uint(r, x, 0, 1024); });
    detail::assign(m, "drain_timeout", spec_.drain_timeout, [&](const Value& x) { return detail::read_duration(r, x); });
    if (auto v = m.get("defaults")) spec_.defaults = detail::parse_defaults(r, *v);
    detail::assign(m, "shutdown_delay", spec_.shutdown_delay, [&](const Value& x) { return detail::read_duration(r, x); });
    detail::assign(m, "watch", spec_.watch, [&](const Value& x) { return detail::read_bool(r, x); });
    // Blocks left out keep their defaults and point at the main file as a whole.
    const Mark file_mark{r.file(), 0, 0};
    spec_.admin.mark = spec_.access_log.mark = spec_.log.mark = file_mark;
    if (auto v = m.get("admin")) spec_.admin = detail::parse_admin(r, *v, xref_);
    if (auto v = m.get("access_log")) {
      spec_.access_log = detail::parse_access_log(r, *v, fs::path(r.file()).parent_path().string());
    }
    if (auto v = m.get("log")) spec_.log = detail::parse_log(r, *v);
  }

  void read_includes(Reader& r, const Value& v, const std::string& display) {
    auto patterns = detail::read_string_or_list(r, v);
    if (!patterns) return;
    const fs::path dir = fs::path(display).parent_path();
    for (const Value& item : *patterns) {
      auto pattern = detail::read_nonempty_string(r, item);
      if (!pattern) continue;
      const std::string full = (dir / *pattern).string();
      if (!is_glob(*pattern)) {
        std::error_code ec;
        if (!fs::exists(full, ec)) {
          r.error(item.mark, item.path, "included file not found: " + full);
        } else {
          include_file(r, item, full);
        }
        continue;
      }
      for (const std::string& path : glob_files(full)) include_file(r, item, path);
    }
  }

  void include_file(Reader& r, const Value& at, const std::string& path) {
    const std::string key = canonical_key(path);
    auto in_stack = std::find_if(stack_.begin(), stack_.end(), [&](const auto& f) { return f.first == key; });
    if (in_stack != stack_.end()) {
      std::string chain;
      for (auto it = in_stack; it != stack_.end(); ++it) chain += it->second + " -> ";
      r.error(at.mark, at.path, "include cycle: " + chain + path);
      return;
    }
    if (done_.count(key)) return;  // already read through another pattern: read each file once
    auto text = read_file(path);
    if (!text) {
      r.error(at.mark, at.path, "cannot read included file " + path);
      return;
    }
    read_text(*text, path, key, /*is_main=*/false);
  }

  std::vector<Diagnostic>& diagnostics_;
  const std::size_t first_;
  ConfigSpec spec_;
  detail::Xref xref_;
  std::vector<std::pair<std::string, std::string>> stack_;  // (canonical, display) being read
  std::set<std::string> done_;
  Mark main_mark_;
  bool main_parsed_ = false;
};

}  // namespace

std::optional<ConfigSpec> load(const std::string& path, std::vector<Diagnostic>& diagnostics) {
  Loader loader(diagnostics);
  auto text = read_file(path);
  if (!text) {
    loader.main_unreadable(path);
    return std::nullopt;
  }
  loader.load_main(*text, path);
  return loader.finish();
}

std::optional<ConfigSpec> load_string(const std::string& text, const std::string& file_name,
                                      std::vector<Diagnostic>& diagnostics) {
  Loader loader(diagnostics);
  loader.load_main(text, file_name);
  return loader.finish();
}

}  // namespace rampart::config
