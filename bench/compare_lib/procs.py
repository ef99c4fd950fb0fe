"""Processes this run starts, and what /proc says about a process tree.

Every child is started in a session (and so a process group) of its own, remembered in a
Registry, and stopped through that group: SIGTERM, then SIGKILL after a grace period. Nothing
that this run did not start is ever signalled. Registry.stop_all() is safe to call more than
once and from a finally block after Ctrl-C.
"""

import os
import re
import socket
import signal
import subprocess
import time


class Error(Exception):
    """A failure with a message meant for the person running the benchmark."""


class Child:
    """One started process: its Popen, a name for messages, and its log files."""

    def __init__(self, name, popen, stdout_path, stderr_path):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path

    def alive(self):
        return self.popen.poll() is None

    def log_tail(self, lines=8):
        """The last lines of its stderr then stdout, for error messages."""
        out = []
        for path in (self.stderr_path, self.stdout_path):
            try:
                with open(path, "r", errors="replace") as f:
                    text = f.read()[-4000:]
            except OSError:
                continue
            out.extend(l for l in text.splitlines() if l.strip())
        return " | ".join(out[-lines:])


class Registry:
    """Owns every long-running child of this run (peers, the upstream)."""

    def __init__(self):
        self._children = []

    def start(self, name, argv, log_dir, cpu=None, env=None, cwd=None):
        """Starts argv (pinned to core `cpu` through taskset when given) in a new session.

        stdout and stderr go to <log_dir>/<name>.out and .err. Raises Error if it cannot run."""
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu)] + list(argv)
        out_path = os.path.join(log_dir, name + ".out")
        err_path = os.path.join(log_dir, name + ".err")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         env=env, cwd=cwd, start_new_session=True)
            except OSError as e:
                raise Error("cannot start %s (%s): %s" % (name, argv[0], e)) from e
        child = Child(name, popen, out_path, err_path)
        self._children.append(child)
        return child

    def stop(self, child, grace_s=10.0):
        """SIGTERM to the child's process group, SIGKILL after grace_s; reaps it."""
        if child not in self._children:
            return
        self._children.remove(child)
        _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if child.popen.poll() is not None and not _group_exists(child.pid):
                return
            time.sleep(0.05)
        _signal_group(child.pid, signal.SIGKILL)
        try:
            child.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def stop_all(self):
        for child in reversed(list(self._children)):
            self.stop(child)


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_exists(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def run_bounded(argv, timeout_s, cpu=None, env=None):
    """Runs a short command to completion in its own process group, killed at timeout_s.

    Returns (returncode, stdout, stderr) as text; a timeout raises Error."""
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + list(argv)
    try:
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env, start_new_session=True)
    except OSError as e:
        raise Error("cannot run %s: %s" % (argv[0], e)) from e
    try:
        out, err = popen.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _signal_group(popen.pid, signal.SIGKILL)
        popen.communicate()
        raise Error("%s did not finish within %.0f s" % (" ".join(argv[:3]), timeout_s))
    except BaseException:
        # Ctrl-C or another exception while waiting: never leave it behind.
        _signal_group(popen.pid, signal.SIGKILL)
        popen.wait()
        raise
    return popen.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# /proc: a process tree's CPU time and memory

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read_stat(pid):
    """Fields of /proc/PID/stat from field 3 (state) on, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return data[data.rfind(")") + 2:].split()


def tree_pids(root):
    """root and all its live descendants (one scan of /proc)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _read_stat(int(name))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    out, queue = [], [root]
    while queue:
        pid = queue.pop()
        out.append(pid)
        queue.extend(children.get(pid, ()))
    return out


def tree_cpu_seconds(root):
    """utime + stime of root and its descendants, plus their reaped children (cutime, cstime)."""
    ticks = 0
    for pid in tree_pids(root):
        fields = _read_stat(pid)
        if fields is None:
            continue
        # Fields 14-17 (utime, stime, cutime, cstime) sit at 11-14 once field 3 is index 0.
        ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLK_TCK


def _status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_rss_kb(root):
    """VmRSS summed over root and its descendants, in KiB."""
    return sum(_status_kb(pid, "VmRSS") for pid in tree_pids(root))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pattern, path, child, what, timeout_s=10):
    """Waits until the file at `path` (a child's log) has a line matching `pattern`; returns the match."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            m = re.search(pattern, f.read(), re.M)
        if m:
            return m
        if not child.alive():
            raise Error("%s exited at start-up: %s" % (what, child.log_tail()))
        time.sleep(0.05)
    raise Error("%s did not start within %d s" % (what, timeout_s))
