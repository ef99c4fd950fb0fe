#include "server/control.hpp"

#include "admin/server.hpp"
#include "config/load.hpp"
#include "observe/access_log.hpp"
#include "observe/metrics.hpp"
#include "server/listen.hpp"
#include "server/watcher.hpp"
#include "server/worker.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <future>
#include <random>
#include <sstream>
#include <thread>

#ifndef RAMPART_VERSION
#define RAMPART_VERSION "0.0.0"
#endif

namespace rampart::server {

namespace asio = boost::asio;

struct Control::Loop {
  asio::io_context ioc{1};
  asio::signal_set signals{ioc, SIGINT, SIGTERM, SIGHUP};  // + SIGUSR1, added in run()
  asio::steady_timer delay{ioc};
  asio::steady_timer rotation{ioc};  // session-ticket key rotation
  bool stopping = false;
};

namespace {

std::string diagnostics_text(const std::vector<config::Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) out.append(d.str()).append("\n");
  return out;
}

void json_string(std::string_view s, std::string& out) {
  out += '"';
  observe::json_escape(s, out);
  out += '"';
}

}  // namespace

Control::Control(std::string config_path) : path_(std::move(config_path)), loop_(std::make_unique<Loop>()) {}

Control::~Control() {
  admin_.reset();  // stop the admin thread before what its handlers use goes away
  watcher_.reset();
}

std::optional<config::ConfigSpec> Control::load_spec(const char* what) {
  std::vector<config::Diagnostic> diags;
  auto spec = config::load(path_, diags);
  if (!spec) {
    log_.write(Level::error, "%s failed: %zu error(s) in %s", what, diags.size(), path_.c_str());
    log_.write_lines(Level::error, diagnostics_text(diags));
  }
  return spec;
}

namespace {

// The DNS names among the endpoints of `spec` (IP literals need no discovery).
std::vector<upstream::Discovery::Name> names_of(const config::ConfigSpec& spec) {
  std::vector<upstream::Discovery::Name> out;
  for (const auto& u : spec.upstreams)
    for (const auto& e : u.endpoints)
      if (!core::parse_ip(e.address.host)) out.push_back({e.address.host, u.discovery.resolver, u.discovery.refresh});
  return out;
}

}  // namespace

std::shared_ptr<const snapshot::Snapshot> Control::compile(const config::ConfigSpec& spec, std::uint64_t generation,
                                                           const char* what) {
  // Names are resolved before the build, without blocking any worker; a name that does not
  // resolve leaves its pool without it (discovery keeps trying) rather than failing the load.
  const auto names = names_of(spec);
  if (!names.empty()) {
    for (const std::string& e : discovery_->resolve_now(names, std::chrono::seconds(5)))
      log_.write(Level::warn, "%s: endpoint %s has no address yet; its pool goes without it", what, e.c_str());
  }
  snapshot::NameLookup lookup = [this](const config::UpstreamSpec& pool, const std::string& host) {
    return discovery_->addresses({host, pool.discovery.resolver, pool.discovery.refresh});
  };
  std::vector<config::Diagnostic> diags;
  auto snap = snapshot::build(spec, generation, diags, metrics_.get(), &states_, lookup, &tickets_);
  if (!snap) {
    log_.write(Level::error, "%s failed: %zu error(s) in %s", what, diags.size(), path_.c_str());
    log_.write_lines(Level::error, diagnostics_text(diags));
  }
  return snap;
}

bool Control::open(const config::ListenerSpec& l, std::vector<int>& fds, std::uint16_t& port, std::string& error) {
  port = l.address.port;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    std::uint16_t bound = 0;
    int fd = open_listener(l.address, port, bound, error);
    if (fd < 0) {
      for (int f : fds) ::close(f);
      fds.clear();
      return false;
    }
    port = bound;  // the first socket fixes the port for the others
    fds.push_back(fd);
  }
  return true;
}

int Control::run() {
  auto spec = load_spec("configuration");
  if (!spec) return 1;
  log_.configure(spec->log);
  const unsigned n = spec->workers ? spec->workers : std::max(1u, std::thread::hardware_concurrency());
  metrics_ = std::make_unique<observe::Metrics>(n, RAMPART_VERSION);
  discovery_ = std::make_unique<upstream::Discovery>(
      loop_->ioc, [this] { rediscover(); },
      [this](const std::string& line) { log_.write(Level::warn, "discovery: %s", line.c_str()); });
  current_ = compile(*spec, ++generation_, "configuration");
  if (!current_) return 1;
  discovery_->watch(names_of(current_->spec));
  metrics_->set_endpoint_health_source([this] { return endpoint_health(); });
  checker_ = std::make_unique<upstream::HealthChecker>([this](const upstream::HealthChecker::Event& e) { on_health_event(e); });
  update_health_checks();

  std::string error;
  if (spec->access_log.enabled) {
    access_log_ = observe::AccessLog::open(spec->access_log, n, error);
    if (!access_log_) {
      log_.write(Level::error, "access log %s: %s", spec->access_log.path.c_str(), error.c_str());
      return 1;
    }
  }
  std::random_device rd;
  for (unsigned i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<Worker>(i, current_, (std::uint64_t(rd()) << 32) ^ rd(), metrics_->worker(i),
                                                access_log_ ? &access_log_->shard(i) : nullptr, log_));

  for (const auto& l : current_->spec.listeners) {
    std::vector<int> fds;
    std::uint16_t port = 0;
    if (!open(l, fds, port, error)) {
      log_.write(Level::error, "listener %s: %s", l.name.c_str(), error.c_str());
      return 1;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) workers_[i]->add_listener(l.name, fds[i]);
    listeners_[l.name] = {l.address, port};
    log_.write(Level::info, "listening name=%s address=%s", l.name.c_str(),
                 core::HostPort{l.address.host, port}.str().c_str());
  }
  if (spec->admin.enabled && !start_admin(*spec, error)) {
    log_.write(Level::error, "admin listener %s: %s", spec->admin.address.str().c_str(), error.c_str());
    return 1;
  }

  ::signal(SIGPIPE, SIG_IGN);
  for (auto& w : workers_) w->start();
  metrics_->config_loaded(generation_);
  ready_ = true;
  if (spec->watch) watch_files();
  schedule_ticket_rotation();
  log_.write(Level::info, "ready workers=%u generation=%llu", n, (unsigned long long)generation_);

  auto& loop = *loop_;
  loop.signals.add(SIGUSR1);
  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec,
                                                                             int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      std::string message;
      reload(message);
    } else if (sig == SIGUSR1) {
      std::string why;
      if (access_log_ && !access_log_->reopen(why))
        log_.write(Level::error, "access log reopen failed: %s", why.c_str());
      else if (access_log_)
        log_.write(Level::info, "access log reopened");
    } else if (!draining_) {
      // Stop: readiness goes 503 at once; traffic is still served for shutdown_delay so load
      // balancers notice, then the drain starts. A second SIGTERM skips the delay.
      draining_ = true;
      metrics_->set_draining(true);
      std::shared_ptr<const snapshot::Snapshot> snap;
      {
        std::lock_guard lock(current_mu_);
        snap = current_;
      }
      auto delay = snap->spec.shutdown_delay;
      log_.write(Level::info, "shutting down: not ready; draining in %lld ms", (long long)delay.count());
      loop.delay.expires_after(delay);
      loop.delay.async_wait([&](const boost::system::error_code&) { loop.stopping = true; });
    } else {
      loop.delay.cancel();
    }
    loop.signals.async_wait(on_signal);
  };
  loop.signals.async_wait(on_signal);
  while (!loop.stopping && loop.ioc.run_one() > 0) {
  }

  // Drain: stop accepting, close idle connections, let exchanges in flight finish until the deadline.
  auto timeout = current_->spec.drain_timeout;
  log_.write(Level::info, "draining (up to %lld ms)", (long long)timeout.count());
  watcher_.reset();
  auto deadline = upstream::Clock::now() + timeout;
  for (auto& w : workers_) w->drain(deadline);
  for (auto& w : workers_) w->join();
  admin_.reset();
  access_log_.reset();  // flushes
  log_.write(Level::info, "stopped");
  return 0;
}

bool Control::start_admin(const config::ConfigSpec& spec, std::string& error) {
  admin::Handlers h;
  h.metrics = [this] { return metrics_->render(); };
  h.ready = [this] { return ready_.load() && !draining_.load(); };
  h.config_yaml = [this] {
    std::shared_ptr<const snapshot::Snapshot> snap;
    {
      std::lock_guard lock(current_mu_);
      snap = current_;
    }
    // The admin port has no authentication: private-key paths and credential header values
    // never leave the process (`rampart dump` at the console shows them).
    return config::dump(snap->spec, config::DumpMode::redacted);
  };
  h.upstreams_json = [this] { return upstreams_json(); };
  h.reload = [this](std::string& message) {
    // Reloads run on the control thread, like SIGHUP's; the admin thread waits for the outcome.
    std::promise<std::pair<bool, std::string>> done;
    auto result = done.get_future();
    asio::post(loop_->ioc, [this, &done] {
      std::string m;
      bool ok = reload(m);
      done.set_value({ok, m});
    });
    auto [ok, m] = result.get();
    message = m;
    return ok;
  };
  admin_ = admin::Server::start(spec.admin.address, std::move(h), error);
  if (!admin_) return false;
  log_.write(Level::info, "admin listening address=%s",
               core::HostPort{spec.admin.address.host, admin_->port()}.str().c_str());
  return true;
}

namespace {

const char* health_name(upstream::Health h) {
  switch (h) {
    case upstream::Health::healthy: return "healthy";
    case upstream::Health::unknown: return "unknown";
    case upstream::Health::unhealthy: return "unhealthy";
  }
  return "unknown";
}

const char* policy_name(config::LoadBalanceSpec::Policy p) {
  switch (p) {
    case config::LoadBalanceSpec::Policy::round_robin: return "round_robin";
    case config::LoadBalanceSpec::Policy::least_request: return "least_request";
    case config::LoadBalanceSpec::Policy::random: return "random";
    case config::LoadBalanceSpec::Policy::hash: return "hash";
  }
  return "round_robin";
}

}  // namespace

void Control::update_health_checks() {
  std::vector<upstream::HealthChecker::Target> targets;
  for (std::size_t u = 0; u < current_->upstreams.size(); ++u) {
    const auto& g = current_->upstreams[u];
    const auto& us = current_->spec.upstreams[u];
    if (!us.health_check) continue;
    for (const auto& ep : g.endpoints)
      targets.push_back(
          {ep.key, g.name, ep.resolved, ep.address.str(), *us.health_check, ep.state, g.tls, us.protocol == "h2"});
  }
  // The checker's thread starts with the first pool that has a health check.
  if (!targets.empty() && !checker_started_) {
    checker_->start();
    checker_started_ = true;
  }
  checker_->update(std::move(targets));
  // Endpoints no longer checked (their pool dropped health_check) keep no stale verdict.
  for (std::size_t u = 0; u < current_->upstreams.size(); ++u) {
    if (current_->spec.upstreams[u].health_check) continue;
    for (const auto& ep : current_->upstreams[u].endpoints)
      if (ep.state->health.load(std::memory_order_relaxed) != upstream::Health::healthy)
        ep.state->health.store(upstream::Health::healthy, std::memory_order_relaxed);
  }
}

// Checker thread: counts the probe and logs transitions (Log is thread-safe).
void Control::on_health_event(const upstream::HealthChecker::Event& e) {
  auto& st = *e.target->state;
  (e.ok ? st.checks_passed : st.checks_failed).fetch_add(1, std::memory_order_relaxed);
  if (e.transition) {
    const std::string& key = e.target->key;
    log_.write(*e.transition == upstream::Health::healthy ? Level::info : Level::warn,
               "upstream %s: endpoint %s is %s (%s)", e.target->pool.c_str(), key.substr(key.find('|') + 1).c_str(),
               health_name(*e.transition), e.ok ? "check passed" : e.detail.c_str());
  }
}

std::vector<observe::Metrics::EndpointHealth> Control::endpoint_health() const {
  std::shared_ptr<const snapshot::Snapshot> snap;
  {
    std::lock_guard lock(current_mu_);
    snap = current_;
  }
  std::vector<observe::Metrics::EndpointHealth> out;
  if (!snap) return out;
  const auto now_ns = upstream::to_ns(upstream::Clock::now());
  for (const auto& g : snap->upstreams) {
    for (const auto& ep : g.endpoints) {
      const auto& st = *ep.state;
      out.push_back({g.name, ep.label, st.health.load(std::memory_order_relaxed) == upstream::Health::healthy,
                     st.ejected(now_ns), st.ejections_total.load(std::memory_order_relaxed),
                     st.checks_passed.load(std::memory_order_relaxed), st.checks_failed.load(std::memory_order_relaxed)});
    }
  }
  return out;
}

std::string Control::upstreams_json() const {
  std::shared_ptr<const snapshot::Snapshot> snap;
  {
    std::lock_guard lock(current_mu_);
    snap = current_;
  }
  const auto now_ns = upstream::to_ns(upstream::Clock::now());
  std::string out = "{\"generation\":" + std::to_string(snap->generation) + ",\"upstreams\":[";
  for (std::size_t i = 0; i < snap->upstreams.size(); ++i) {
    const auto& g = snap->upstreams[i];
    if (i) out += ',';
    out += "{\"name\":";
    json_string(g.name, out);
    out += std::string(",\"balancer\":\"") + policy_name(g.balancer->policy()) + "\"" +
           ",\"health_checked\":" + (g.health_checked ? "true" : "false") +
           ",\"when_all_unhealthy\":\"" + (g.panic ? "panic" : "fail") + "\"" +
           ",\"max_idle_per_endpoint\":" + std::to_string(g.max_idle_per_endpoint) +
           ",\"idle_timeout_s\":" + std::to_string(std::chrono::duration<double>(g.idle_timeout).count()) +
           ",\"max_requests_per_connection\":" + std::to_string(g.max_requests_per_connection);
    const auto gauges = metrics_->upstream_gauges(g.metrics_id);
    out += ",\"active_requests\":" + std::to_string(gauges.active_requests) +
           ",\"idle_connections\":" + std::to_string(gauges.idle_connections) +
           ",\"open_connections\":" + std::to_string(g.pool_state->connections.load(std::memory_order_relaxed)) +
           ",\"endpoints\":[";
    for (std::size_t e = 0; e < g.endpoints.size(); ++e) {
      const auto& ep = g.endpoints[e];
      const auto& st = *ep.state;
      if (e) out += ',';
      out += "{\"address\":";
      json_string(ep.label, out);
      out += ",\"resolved\":";
      std::ostringstream resolved;
      resolved << ep.resolved;
      json_string(resolved.str(), out);
      const auto until = st.ejected_until_ns.load(std::memory_order_relaxed);
      out += ",\"weight\":" + std::to_string(ep.weight) + ",\"health\":\"" +
             health_name(st.health.load(std::memory_order_relaxed)) + "\",\"ejected\":" +
             (until > now_ns ? "true" : "false") + ",\"ejected_for_s\":" +
             std::to_string(until > now_ns ? static_cast<double>(until - now_ns) / 1e9 : 0.0) +
             ",\"ejections\":" + std::to_string(st.ejections_total.load(std::memory_order_relaxed)) +
             ",\"checks_passed\":" + std::to_string(st.checks_passed.load(std::memory_order_relaxed)) +
             ",\"checks_failed\":" + std::to_string(st.checks_failed.load(std::memory_order_relaxed)) + "}";
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

// Generated session-ticket keys get a new current key every rotation period (the shortest any TLS
// listener asks for); the previous key still decrypts, so tickets stay valid for one more period.
void Control::schedule_ticket_rotation() {
  core::Duration every = std::chrono::hours(12);
  for (const auto& l : current_->spec.listeners)
    if (l.tls && l.tls->session_tickets) every = std::min(every, l.tls->ticket_rotation);
  loop_->rotation.expires_after(every);
  loop_->rotation.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    tickets_.rotate_generated();
    schedule_ticket_rotation();
  });
}

// Discovery saw an address set change: the same config, compiled again with the new addresses,
// replaces the snapshot (a new generation; pools and health of endpoints that stay are kept).
void Control::rediscover() {
  if (draining_.load() || !current_) return;
  std::vector<config::Diagnostic> diags;
  snapshot::NameLookup lookup = [this](const config::UpstreamSpec& pool, const std::string& host) {
    return discovery_->addresses({host, pool.discovery.resolver, pool.discovery.refresh});
  };
  auto next = snapshot::build(current_->spec, generation_ + 1, diags, metrics_.get(), &states_, lookup, &tickets_);
  if (!next) {
    log_.write(Level::error, "discovery: rebuilding the configuration failed; generation %llu stays",
               static_cast<unsigned long long>(generation_));
    log_.write_lines(Level::error, diagnostics_text(diags));
    return;
  }
  generation_ = next->generation;
  {
    std::lock_guard lock(current_mu_);
    current_ = next;
  }
  for (std::size_t i = 0; i < workers_.size(); ++i)
    workers_[i]->set_snapshot(next, access_log_ ? &access_log_->shard(static_cast<unsigned>(i)) : nullptr);
  update_health_checks();
  states_.collect();
  log_.write(Level::info, "discovery: endpoints changed, generation=%llu", static_cast<unsigned long long>(generation_));
}

void Control::watch_files() {
  if (!watcher_)
    watcher_ = std::make_unique<Watcher>(loop_->ioc, std::chrono::milliseconds(500), [this] {
      std::string message;
      log_.write(Level::info, "configuration files changed");
      reload(message);
    });
  std::string error;
  // The config files, and the certificate, key, OCSP response, ticket-key and upstream CA files they name: a
  // renewed certificate or staple is picked up like an edited config (the old one stays if the
  // new one is bad).
  std::vector<std::string> files = current_->spec.files;
  for (const auto& l : current_->spec.listeners) {
    if (!l.tls) continue;
    for (const auto& c : l.tls->certificates) {
      files.push_back(c.cert);
      files.push_back(c.key);
      if (!c.ocsp.empty()) files.push_back(c.ocsp);
    }
    if (l.tls->ticket_key_file) files.push_back(*l.tls->ticket_key_file);
  }
  for (const auto& u : current_->spec.upstreams) {  // upstream TLS: the CA bundle and client certificate
    if (!u.tls) continue;
    if (u.tls->ca) files.push_back(*u.tls->ca);
    if (u.tls->client_cert) {
      files.push_back(u.tls->client_cert->cert);
      files.push_back(u.tls->client_cert->key);
    }
  }
  if (!watcher_->watch(files, error))
    log_.write(Level::warn, "not watching the configuration files: %s", error.c_str());
}

bool Control::reload(std::string& message) {
  auto spec = load_spec("reload");
  std::shared_ptr<const snapshot::Snapshot> next;
  if (spec) next = compile(*spec, generation_ + 1, "reload");
  if (!next) {
    metrics_->reload_result(false, generation_);
    message = "reload failed; generation " + std::to_string(generation_) + " stays in service";
    return false;
  }
  if (next->spec.workers != current_->spec.workers)
    log_.write(Level::warn, "reload: 'workers' changes take effect on restart");
  if (next->spec.admin.address != current_->spec.admin.address ||
      next->spec.admin.enabled != current_->spec.admin.enabled)
    log_.write(Level::warn, "reload: 'admin' changes take effect on restart");
  if (next->spec.access_log.path != current_->spec.access_log.path && access_log_)
    log_.write(Level::warn, "reload: a new access_log.path takes effect on restart");

  // An access log enabled by this reload starts now (one stays open once started: workers hold
  // its shards until they exit).
  std::string error;
  if (next->spec.access_log.enabled && !access_log_) {
    access_log_ = observe::AccessLog::open(next->spec.access_log, static_cast<unsigned>(workers_.size()), error);
    if (!access_log_) {
      log_.write(Level::error, "reload failed: access log %s: %s", next->spec.access_log.path.c_str(),
                   error.c_str());
      metrics_->reload_result(false, generation_);
      message = "reload failed: access log: " + error;
      return false;
    }
  }

  // Listener diff by name: unchanged addresses keep their sockets (and connections).
  std::map<std::string, std::vector<int>> added;
  std::map<std::string, BoundListener> next_listeners;
  std::vector<std::string> removed;
  for (const auto& l : next->spec.listeners) {
    auto it = listeners_.find(l.name);
    if (it != listeners_.end() && it->second.address == l.address) {
      next_listeners[l.name] = it->second;
      continue;
    }
    std::vector<int> fds;
    std::uint16_t port = 0;
    bool clash = it != listeners_.end() && it->second.address.port == l.address.port && l.address.port != 0;
    if (clash) removed.push_back(l.name);  // same port, new host part: remove first, then add
    if (!open(l, fds, port, error)) {
      log_.write(Level::error, "reload failed: listener %s: %s", l.name.c_str(), error.c_str());
      for (auto& [name, f] : added)
        for (int fd : f) ::close(fd);
      metrics_->reload_result(false, generation_);
      message = "reload failed: listener " + l.name + ": " + error;
      return false;
    }
    if (it != listeners_.end() && !clash) removed.push_back(l.name);
    added[l.name] = std::move(fds);
    next_listeners[l.name] = {l.address, port};
  }
  for (const auto& [name, bl] : listeners_)
    if (!next_listeners.count(name)) removed.push_back(name);

  generation_ = next->generation;
  log_.configure(next->spec.log);
  {
    std::lock_guard lock(current_mu_);
    current_ = next;
  }
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    for (const auto& name : removed) workers_[i]->remove_listener(name);
    workers_[i]->set_snapshot(next, access_log_ ? &access_log_->shard(static_cast<unsigned>(i)) : nullptr);
  }
  for (auto& [name, fds] : added) {
    for (std::size_t i = 0; i < fds.size(); ++i) workers_[i]->add_listener(name, fds[i]);
    log_.write(Level::info, "listening name=%s address=%s", name.c_str(),
                 core::HostPort{next_listeners[name].address.host, next_listeners[name].port}.str().c_str());
  }
  listeners_ = std::move(next_listeners);
  discovery_->watch(names_of(next->spec));
  update_health_checks();
  states_.collect();
  tickets_.collect();
  metrics_->reload_result(true, generation_);
  if (next->spec.watch)
    watch_files();
  else  // not from inside the watcher's own callback: after it returns
    asio::post(loop_->ioc, [this] {
      if (!current_->spec.watch) watcher_.reset();
    });
  message = "reload ok generation=" + std::to_string(generation_);
  log_.write(Level::info, "%s", message.c_str());
  return true;
}

}  // namespace rampart::server
