// Checks that need the whole merged config: duplicates across files, references, host conflicts.
#include "config/parse.hpp"

#include <algorithm>
#include <map>

namespace rampart::config::detail {
namespace {

void error(std::vector<Diagnostic>& out, const Site& at, std::string message) {
  out.push_back(Diagnostic{at.mark, std::move(message), at.path});
}

// Reports each later occurrence of a name already seen.
void check_unique(const std::vector<Site>& sites, std::string_view what, std::vector<Diagnostic>& out) {
  std::map<std::string, const Site*> first;
  for (const Site& s : sites) {
    if (s.text.empty()) continue;
    auto [it, inserted] = first.emplace(s.text, &s);
    if (!inserted) {
      error(out, s,
            "duplicate " + std::string(what) + " '" + s.text + "' (first at " + format_mark(it->second->mark) + ")");
    }
  }
}

std::vector<std::string> names_of(const std::vector<Site>& sites) {
  std::vector<std::string> names;
  for (const Site& s : sites) {
    if (!s.text.empty()) names.push_back(s.text);
  }
  return names;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Two servers can be reached through the same listener (an empty list means every listener).
bool share_a_listener(const ServerSpec& a, const ServerSpec& b) {
  if (a.listeners.empty() || b.listeners.empty()) return true;
  return std::any_of(a.listeners.begin(), a.listeners.end(), [&](const std::string& l) { return contains(b.listeners, l); });
}

bool is_wildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

// Two bound sockets would take the same connections: same port, and the same host or a wildcard
// on either side (listeners use SO_REUSEPORT, so the kernel would not refuse the second bind).
// Port 0 never collides: each socket gets its own port.
bool overlap(const core::HostPort& a, const core::HostPort& b) {
  if (a.port == 0 || b.port == 0 || a.port != b.port) return false;
  return a.host == b.host || is_wildcard(a.host) || is_wildcard(b.host);
}

// The admin listener must not take connections meant for a public listener. Blamed on the admin
// address when it is written, else on the listener's address.
void check_admin_address(const ConfigSpec& spec, const Xref& x, std::vector<Diagnostic>& out) {
  if (!spec.admin.enabled) return;
  for (std::size_t i = 0; i < spec.listeners.size() && i < x.listener_addresses.size(); ++i) {
    const Site& listener = x.listener_addresses[i];
    if (listener.text.empty() || !overlap(spec.admin.address, spec.listeners[i].address)) continue;
    const std::string message = "admin listener shares an address with listener '" + spec.listeners[i].name + "'";
    if (!x.admin_address.text.empty()) {
      error(out, x.admin_address, message + " (at " + format_mark(listener.mark) + ")");
    } else {
      error(out, listener, message + " (admin.address defaults to " + spec.admin.address.str() + ")");
    }
  }
}

}  // namespace

void cross_check(const ConfigSpec& spec, const Xref& x, const Mark* main_mark, std::vector<Diagnostic>& out) {
  if (main_mark && spec.listeners.empty()) out.push_back(Diagnostic{*main_mark, "no listeners defined", "listeners"});
  if (main_mark && spec.servers.empty()) out.push_back(Diagnostic{*main_mark, "no servers defined", "servers"});

  check_unique(x.listener_names, "listener name", out);
  check_unique(x.server_names, "server name", out);
  check_unique(x.upstream_names, "upstream name", out);
  check_unique(x.policy_names, "policy name", out);

  std::map<std::string, std::size_t> address_owner;
  for (std::size_t i = 0; i < x.listener_addresses.size(); ++i) {
    const Site& s = x.listener_addresses[i];
    if (s.text.empty() || spec.listeners[i].address.port == 0) continue;  // port 0: each gets its own
    auto [it, inserted] = address_owner.emplace(s.text, i);
    if (!inserted) {
      error(out, s,
            "duplicate listener address '" + s.text + "' (already used by listener '" +
                spec.listeners[it->second].name + "' at " + format_mark(spec.listeners[it->second].mark) + ")");
    }
  }

  check_admin_address(spec, x, out);

  const std::vector<std::string> listeners = names_of(x.listener_names);
  for (const Xref::ServerRef& ref : x.server_listeners) {
    if (!contains(listeners, ref.site.text)) {
      error(out, ref.site, "unknown listener '" + ref.site.text + "'" + did_you_mean(ref.site.text, listeners));
    }
  }
  const std::vector<std::string> upstreams = names_of(x.upstream_names);
  for (const Site& ref : x.route_upstreams) {
    if (!contains(upstreams, ref.text)) {
      error(out, ref, "unknown upstream '" + ref.text + "'" + did_you_mean(ref.text, upstreams));
    }
  }

  const std::vector<std::string> policies = names_of(x.policy_names);
  for (const Site& ref : x.policy_refs) {
    if (!contains(policies, ref.text)) error(out, ref, "unknown policy '" + ref.text + "'" + did_you_mean(ref.text, policies));
  }

  // A chain holds one policy of each kind; `without` names what the server has.
  std::map<std::string, std::string> kind;
  for (const auto& p : spec.policies) kind[p.name] = p.kind();
  auto same_kind = [&](const std::vector<std::string>& names, const Mark& mark, const std::string& where) {
    std::map<std::string, std::string> seen;
    for (const auto& n : names) {
      auto k = kind.find(n);
      if (k == kind.end()) continue;  // unknown: reported above
      if (k->second == "rate_limit") continue;  // rate limits stack: several in one list all apply
      auto [it, fresh] = seen.emplace(k->second, n);
      if (!fresh)
        out.push_back({mark, "policies '" + it->second + "' and '" + n + "' are both " + k->second + " (one of each kind)", where});
    }
  };
  for (std::size_t i = 0; i < spec.servers.size(); ++i) {
    const auto& srv = spec.servers[i];
    same_kind(srv.policies, srv.mark, "servers[" + std::to_string(i) + "].policies");
    for (std::size_t j = 0; j < srv.routes.size(); ++j) {
      const auto& rt = srv.routes[j];
      const std::string where = "servers[" + std::to_string(i) + "].routes[" + std::to_string(j) + "]";
      same_kind(rt.policies, rt.mark, where + ".policies");
      for (const auto& w : rt.without)
        if (!contains(srv.policies, w))
          out.push_back({rt.mark, "without '" + w + "': server '" + srv.name + "' has no such policy", where + ".without"});
    }
  }

  // A host may appear in two servers only if no listener reaches both.
  std::map<std::string, std::vector<const Xref::ServerRef*>> holders;
  for (const Xref::ServerRef& ref : x.hosts) {
    auto& earlier = holders[ref.site.text];
    for (const Xref::ServerRef* prev : earlier) {
      if (prev->server == ref.server) continue;
      const ServerSpec& a = spec.servers[prev->server];
      if (share_a_listener(a, spec.servers[ref.server])) {
        error(out, ref.site,
              "host '" + ref.site.text + "' is already served by server '" + a.name + "' (at " +
                  format_mark(prev->site.mark) + ")");
        break;
      }
    }
    earlier.push_back(&ref);
  }
}

}  // namespace rampart::config::detail
