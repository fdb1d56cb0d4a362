"""Shared plumbing for the controller benchmarks: build, start the fake API server and
the controller, sample the controller's memory and CPU from /proc, read its log.
Standard library only."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
KEYS_DIR = os.path.join(ROOT, "testdata/vectors/kubeseal-0.36.6/keys")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def release_binary(name):
    return os.path.join(target_dir(), "release", name)


def build(packages, examples=()):
    """cargo build --release for the packages (and examples of sealed-common)."""
    cmd = ["cargo", "build", "--release"]
    for p in packages:
        cmd += ["-p", p]
    print("+", *cmd, file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    if examples:
        cmd = ["cargo", "build", "--release", "-p", "sealed-common"] + [a for e in examples for a in ("--example", e)]
        print("+", *cmd, file=sys.stderr, flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)


def http_json(url, method="GET", body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def lscpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown CPU").strip()
    family, number = fields.get("CPU family", "").strip(), fields.get("Model", "").strip()
    if family and number:
        model += f" (family {family} model {number})"
    return f"{model}, {os.cpu_count()} vCPU"


class FakeServer:
    """bench/fake_apiserver.py as a child process."""

    def __init__(self, workdir, args, log_requests=False):
        self.log_path = os.path.join(workdir, "fake_apiserver.log")
        self.request_log = os.path.join(workdir, "requests.log") if log_requests else None
        cmd = [sys.executable, os.path.join(BENCH, "fake_apiserver.py"), "--port", "0", *args]
        if self.request_log:
            cmd += ["--request-log", self.request_log]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise SystemExit(f"fake API server did not start; see {self.log_path}:\n{open(self.log_path).read()}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self):
        return http_json(self.url + "/_bench/stats")

    def post(self, what):
        return http_json(self.url + "/_bench/" + what, method="POST", body={})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def write_kubeconfig(path, server_url):
    with open(path, "w") as f:
        f.write(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: bench\n  cluster:\n    server: {server_url}\n"
            "users:\n- name: bench\n  user: {}\n"
            "contexts:\n- name: bench\n  context:\n    cluster: bench\n    user: bench\n"
            "current-context: bench\n"
        )
    return path


class Process:
    """A process whose memory and CPU we read from /proc."""

    def __init__(self, pid):
        self.pid = pid

    def status_kib(self, field):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            return None
        return None

    def rss_kib(self):
        return self.status_kib("VmRSS")

    def hwm_kib(self):
        return self.status_kib("VmHWM")

    def cpu_s(self):
        """user + system CPU seconds so far (all threads)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            return None
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)

    def threads(self):
        return self.status_kib("Threads")


class Controller(Process):
    """sealed-secrets-controller (or any command) as a child process, log to a file."""

    def __init__(self, workdir, cmd, env=None, name="controller"):
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "w")
        self.cmd = cmd
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        super().__init__(self.proc.pid)

    def alive(self):
        return self.proc.poll() is None

    def metrics_url(self):
        """http://ADDR/metrics from the log line of the metrics server, or None (not yet)."""
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    m = METRICS_LINE.search(ANSI.sub("", line))
                    if m:
                        return f"http://{m.group(1)}/metrics"
        except FileNotFoundError:
            pass
        return None

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                print(f"controller pid {self.pid} ignored SIGTERM for 10 s; killing it", file=sys.stderr)
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


ANSI = re.compile(r"\x1b\[[0-9;]*m")
METRICS_LINE = re.compile(r"HTTP metrics server serving\S*\s.*?addr=\"?([0-9.:\[\]]+)")


def scrape(url, timeout=5):
    """Prometheus text format -> {name{labels}: value}; {} if it cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                samples[name] = float(value)
            except ValueError:
                pass
    return samples


def controller_cmd(binary, kubeconfig, namespace="kube-system", extra=()):
    return [binary, "--kubeconfig", kubeconfig, "--namespace", namespace, "--key-renew-period", "0",
            "--listen-addr", "127.0.0.1:0", "--listen-metrics-addr", "127.0.0.1:0", *extra]


def wait_for(check, timeout, interval=0.05, on_tick=None, what="condition", proc=None, check_interval=0.25):
    """Calls on_tick() every interval and check() every check_interval until check() is truthy.
    Returns check()'s value; raises TimeoutError."""
    deadline = time.monotonic() + timeout
    next_check = 0.0
    while True:
        now = time.monotonic()
        if on_tick:
            on_tick()
        if now >= next_check:
            value = check()
            if value:
                return value
            next_check = now + check_interval
        if proc is not None and not proc.alive():
            raise RuntimeError(f"the controller exited ({proc.proc.returncode}) while waiting for {what}; see {proc.log_path}")
        if now >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|WARN|WARNING|ERROR)\b")


def log_summary(path, max_lines=8):
    """Counts WARN/ERROR lines and the distinct messages, for the report."""
    counts, samples = {}, {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = LEVEL.search(line[:80])
                level = m.group(1) if m else "OTHER"
                counts[level] = counts.get(level, 0) + 1
                if level in ("WARN", "WARNING", "ERROR", "OTHER"):
                    # group by the message with names and numbers blanked
                    key = re.sub(r"\d+", "N", re.sub(r"sealed-\d+|bench-\d+", "X", line[m.end():] if m else line))[:160]
                    samples.setdefault(key, line.rstrip()[:400])
    except FileNotFoundError:
        pass
    return counts, list(samples.values())[:max_lines]


def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


def print_table(headers, rows, aligns=None):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    aligns = aligns or ["<"] + [">"] * (len(headers) - 1)
    fmt = "  ".join(f"{{:{a}{w}}}" for a, w in zip(aligns, widths))
    print(fmt.format(*headers))
    print(fmt.format(*["-" * w for w in widths]))
    for r in rows:
        print(fmt.format(*[str(c) for c in r]))


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
