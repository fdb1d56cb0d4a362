#!/usr/bin/env python3
"""Peak memory, time and CPU of sealed-secrets-controller while it reconciles N
SealedSecrets with M unrelated Secrets in the cluster.

Default (no cluster needed): for each M in --secrets (default 0, 10000, 50000) it starts
bench/fake_apiserver.py preloaded with N SealedSecrets (default 1000, 3 items each, over
10 namespaces, sealed to fixture key A), M unrelated ~1 KiB Secrets and key A in
kube-system, then starts the release controller against it and samples its VmRSS from
/proc every 50 ms until every SealedSecret has its Secret and a Synced=True status for its
generation. It reports the time from process start to that point, the peak RSS (VmHWM),
the RSS a few seconds later, and the CPU time (utime+stime). One more run with N=0, M=0
gives the idle baseline. Memory should not grow with M: the controller lists and watches
Secrets metadata-only, in pages of 500, and caches none of them.

  python3 bench/controller_memory.py                       # build, 4 runs, table
  python3 bench/controller_memory.py --secrets 0,10000 --no-build
  python3 bench/controller_memory.py --keep                # keep logs (printed path)

Against a real cluster (a throwaway one: kind, k3d...; kubectl and the SealedSecret CRD
installed, e.g. kubectl apply -f crds/ or upstream's CRD):

  python3 bench/controller_memory.py --kubeconfig ~/.kube/config --secrets 10000

creates the namespaces bench-0..9 and sealed-secrets-bench, key A there, M Secrets and N
SealedSecrets with kubectl, runs the controller locally with --kubeconfig and
--namespace sealed-secrets-bench, follows progress with kubectl, and deletes the
namespaces afterwards (--keep-objects to leave them). Any other controller process
(--controller-cmd) can be measured the same way; one that runs in the cluster (upstream's
reads only the in-cluster config) with --no-controller --metrics-url URL, which samples
process_resident_memory_bytes and process_cpu_seconds_total from its Prometheus
endpoint (e.g. through kubectl port-forward) instead of /proc.

Standard library only.
"""

import argparse
import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

LABEL = "sealed-secrets-bench"


class Sampler:
    """Follows the controller's RSS (max, last) and CPU."""

    def __init__(self, proc):
        self.proc = proc
        self.max_rss = 0
        self.samples = 0
        self.last_rss = None

    def tick(self):
        rss = self.proc.rss_kib()
        if rss is not None:
            self.samples += 1
            self.last_rss = rss
            self.max_rss = max(self.max_rss, rss)


class MetricsProcess:
    """A controller we did not start: RSS and CPU from its Prometheus metrics."""

    def __init__(self, url):
        self.url = url

    def _metric(self, name):
        try:
            with urllib.request.urlopen(self.url, timeout=5) as resp:
                for line in resp.read().decode().splitlines():
                    if line.startswith(name + " ") or line.startswith(name + "{"):
                        return float(line.rsplit(" ", 1)[1])
        except OSError:
            return None
        return None

    def rss_kib(self):
        v = self._metric("process_resident_memory_bytes")
        return None if v is None else int(v / 1024)

    def hwm_kib(self):
        return None

    def cpu_s(self):
        return self._metric("process_cpu_seconds_total")

    def threads(self):
        return self._metric("process_threads") or self._metric("go_threads")

    def alive(self):
        return True


def measure(proc, progress, n, timeout, settle, label, check_interval=0.25):
    """Samples until progress() says all n are done, then `settle` seconds more."""
    sampler = Sampler(proc)
    start = time.monotonic()
    last_print = [0.0]
    state = {}

    def check():
        synced, secrets, failed = progress()
        state.update(synced=synced, secrets=secrets, failed=failed)
        now = time.monotonic()
        if now - last_print[0] > 5:
            last_print[0] = now
            print(f"  [{label}] {now - start:5.1f} s: {synced}/{n} synced, {secrets}/{n} Secrets, "
                  f"{failed} failed, RSS {h.mib(sampler.last_rss)} MiB", file=sys.stderr, flush=True)
        return synced >= n and secrets >= n

    h.wait_for(check, timeout, interval=0.05, on_tick=sampler.tick, what=f"{n} SealedSecrets synced",
               proc=proc if isinstance(proc, h.Controller) else None, check_interval=check_interval)
    elapsed = time.monotonic() - start
    cpu_done = proc.cpu_s()
    rss_done = proc.rss_kib()
    settle_end = time.monotonic() + settle
    while time.monotonic() < settle_end:
        sampler.tick()
        time.sleep(0.05)
    return {
        "seconds_to_synced": round(elapsed, 2),
        "cpu_s_at_synced": cpu_done,
        "cpu_s_after_settle": proc.cpu_s(),
        "rss_kib_at_synced": rss_done,
        "rss_kib_after_settle": proc.rss_kib(),
        "rss_kib_max_sampled": sampler.max_rss,
        "vmhwm_kib": proc.hwm_kib(),
        "threads": proc.threads(),
        "samples": sampler.samples,
        "failed": state.get("failed"),
    }


# ---------------------------------------------------------------- fake API server


def fake_run(args, n, m, controller_bin):
    loadavg = os.getloadavg()[0]
    work = h.workdir(f"ctrl-mem-n{n}-m{m}-")
    server = h.FakeServer(work, [
        "--sealed-secrets", str(n), "--secrets", str(m), "--items", str(args.items),
        "--namespaces", str(args.namespaces), "--key", "A",
    ], log_requests=args.log_requests)
    kubeconfig = h.write_kubeconfig(os.path.join(work, "kubeconfig"), server.url)
    ctrl = h.Controller(work, h.controller_cmd(controller_bin, kubeconfig, extra=args.controller_arg))
    print(f"run N={n} M={m}: fake API server {server.url}, controller pid {ctrl.pid}, logs in {work}", file=sys.stderr)
    try:
        def progress():
            s = server.stats()
            return s["synced"], s["controller_secrets"], s["failed"]

        if n == 0:
            # Idle: wait until the controller watches SealedSecrets, then settle.
            h.wait_for(lambda: any("sealedsecrets?watch" in k for k in server.stats()["counters"]),
                       args.timeout, what="the SealedSecret watch", proc=ctrl)
        result = measure(ctrl, progress, n, args.timeout, args.settle, f"N={n} M={m}")
        stats = server.stats()
    finally:
        status = ctrl.stop()
        server.stop()
    counts, samples = h.log_summary(ctrl.log_path)
    result.update(n=n, m=m, exit_status=status, log_levels=counts, log_samples=samples,
                  requests=stats["counters"], unknown=stats["unknown"], workdir=work, loadavg=loadavg)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


# ---------------------------------------------------------------- real cluster


class Kubectl:
    def __init__(self, kubeconfig):
        self.base = ["kubectl", "--kubeconfig", kubeconfig]

    def run(self, *args, stdin=None, check=True):
        out = subprocess.run(self.base + list(args), input=stdin, capture_output=True, text=True)
        if check and out.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)} failed:\n{out.stderr}")
        return out

    def create(self, objects, what):
        """kubectl create -f - in batches; AlreadyExists is fine."""
        t0 = time.monotonic()
        for i in range(0, len(objects), 500):
            doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects[i:i + 500]})
            out = self.run("create", "--validate=false", "-f", "-", stdin=doc, check=False)
            errors = [l for l in out.stderr.splitlines() if l.strip() and "AlreadyExists" not in l and "already exists" not in l]
            if out.returncode != 0 and errors:
                raise SystemExit(f"kubectl create ({what}) failed:\n" + "\n".join(errors[:10]))
        print(f"  created {len(objects)} {what} in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)


def cluster_run(args, controller_bin):
    n, m = args.sealed_secrets, int(args.secrets.split(",")[0])
    kc = Kubectl(args.kubeconfig)
    home = args.home or "sealed-secrets-bench"
    namespaces = [f"bench-{i}" for i in range(args.namespaces)]
    sys.path.insert(0, h.BENCH)
    import fake_apiserver as fa

    existing = kc.run("get", "sealedsecrets", "-A", "-l", LABEL, "-o", "name", check=False)
    if existing.returncode != 0:
        raise SystemExit(f"cannot list SealedSecrets (is the CRD installed?):\n{existing.stderr}")
    if existing.stdout.strip():
        raise SystemExit(f"SealedSecrets labelled {LABEL} exist already (an earlier run?); delete the namespaces "
                         f"{home} and bench-* first")
    present = set(kc.run("get", "namespaces", "-o", "name").stdout.split())
    created_ns = [ns for ns in [home] + namespaces if f"namespace/{ns}" not in present]
    if len(created_ns) != 1 + len(namespaces) and not args.reuse_namespaces:
        raise SystemExit(f"namespaces exist already: {sorted(set([home] + namespaces) - set(created_ns))}; "
                         "delete them or pass --reuse-namespaces (only what this script creates is deleted)")
    kc.create([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {LABEL: "true"}}}
               for ns in created_ns], "namespaces")
    name, crt, key = fa.parse_key_arg("A")
    with open(crt, "rb") as f1, open(key, "rb") as f2:
        kc.create([fa.key_secret(name, home, f1.read(), f2.read())], "key Secret")

    def cleanup():
        if args.keep_objects:
            return
        if created_ns:
            kc.run("delete", "namespace", "--wait=false", *created_ns, check=False)
        if home not in created_ns:
            kc.run("delete", "-n", home, "secret", name, "--ignore-not-found", check=False)
        for ns in [ns for ns in namespaces if ns not in created_ns]:
            for kind in ("sealedsecrets", "secrets"):
                kc.run("delete", "-n", ns, kind, "-l", LABEL, "--wait=false", check=False)
    filler = base64.b64encode(os.urandom(768)).decode()
    kc.create([{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": f"unrelated-{i:06d}", "namespace": namespaces[i % len(namespaces)],
                             "labels": {LABEL: "unrelated"}},
                "data": {"blob": filler[:-8] + f"{i:08d}"}} for i in range(m)], "unrelated Secrets")
    plain = []
    for i in range(n):
        s = fa.plain_secret(f"sealed-{i:05d}", namespaces[i % len(namespaces)], args.items)
        s["metadata"]["labels"] = {LABEL: "sealed"}
        plain.append(s)
    sealed = fa.seal_all(h.release_binary("kubeseal"), crt, plain) if n else []
    for obj in sealed:  # kubeseal puts labels in the template only; label the SealedSecret too
        obj["metadata"].setdefault("labels", {})[LABEL] = "sealed"
    kc.create(sealed, "SealedSecrets")

    def progress():
        out = kc.run("get", "sealedsecrets", "-A", "-l", LABEL, "-o", "json")
        synced = failed = 0
        for obj in json.loads(out.stdout)["items"]:
            st = obj.get("status") or {}
            cond = next((c for c in st.get("conditions") or [] if c.get("type") == "Synced"), None)
            if cond and st.get("observedGeneration") == obj["metadata"].get("generation"):
                if cond.get("status") == "True":
                    synced += 1
                else:
                    failed += 1
        secrets = kc.run("get", "secrets", "-A", "-l", f"{LABEL}=sealed", "-o", "name").stdout.split()
        return synced, len(secrets), failed

    work = h.workdir("ctrl-mem-cluster-")
    loadavg = os.getloadavg()[0]
    if args.no_controller:
        if not args.metrics_url:
            raise SystemExit("--no-controller needs --metrics-url")
        proc = MetricsProcess(args.metrics_url)
        if args.start_cmd:
            print(f"+ {args.start_cmd}", file=sys.stderr)
            subprocess.run(args.start_cmd, shell=True, check=True)
    else:
        cmd = shlex.split(args.controller_cmd) if args.controller_cmd else \
            h.controller_cmd(controller_bin, args.kubeconfig, namespace=home, extra=args.controller_arg)
        proc = h.Controller(work, cmd)
        print(f"controller pid {proc.pid}: {' '.join(cmd)}; log {proc.log_path}", file=sys.stderr)
    try:
        result = measure(proc, progress, n, args.timeout, args.settle, f"cluster N={n} M={m}", check_interval=1.0)
    finally:
        status = proc.stop() if isinstance(proc, h.Controller) else None
        cleanup()
    counts, samples = h.log_summary(getattr(proc, "log_path", ""))
    result.update(n=n, m=m, exit_status=status, log_levels=counts, log_samples=samples, workdir=work,
                  loadavg=loadavg)
    return result


# ---------------------------------------------------------------- report


def report(results, args):
    print()
    print(f"sealed-secrets-controller memory, {args.items} items per SealedSecret, {h.lscpu_model()}")
    rows = []
    for r in results:
        rows.append([
            f"N={r['n']} M={r['m']}",
            f"{r['seconds_to_synced']:.2f}" if r["n"] else "-",
            h.mib(r["vmhwm_kib"]) if r["vmhwm_kib"] is not None else h.mib(r["rss_kib_max_sampled"]),
            h.mib(r["rss_kib_max_sampled"]),
            h.mib(r["rss_kib_after_settle"]),
            f"{r['cpu_s_at_synced']:.2f}" if r["cpu_s_at_synced"] is not None else "-",
            r["threads"] if r["threads"] is not None else "-",
            sum(r.get("log_levels", {}).get(l, 0) for l in ("WARN", "WARNING", "ERROR")),
        ])
    print("1-minute load average at the start of each run: "
          + ", ".join(f"{r['loadavg']:.2f}" for r in results) + f"; now {os.getloadavg()[0]:.2f}")
    h.print_table(["run", "s to synced", "peak RSS MiB (VmHWM)", "max sampled", f"RSS +{args.settle:g} s",
                   "CPU s", "threads", "warn+error log lines"], rows)
    for r in results:
        bad = {k: v for k, v in r.get("log_levels", {}).items() if k in ("WARN", "WARNING", "ERROR")}
        if bad or r.get("unknown") or r.get("exit_status") not in (0, None):
            print(f"\nN={r['n']} M={r['m']}: exit status {r.get('exit_status')}, log levels {r.get('log_levels')}")
            for line in r.get("log_samples", []):
                print("   ", line)
            for line in r.get("unknown", []):
                print("    fake apiserver:", line)
        if args.verbose and "requests" in r:
            print(f"\nN={r['n']} M={r['m']} requests:")
            for k, v in sorted(r["requests"].items()):
                print(f"    {v:7d}  {k}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sealed-secrets", type=int, default=1000, metavar="N")
    p.add_argument("--secrets", default="0,10000,50000", metavar="M,...", help="unrelated Secrets, one run each")
    p.add_argument("--items", type=int, default=3, help="items per SealedSecret")
    p.add_argument("--namespaces", type=int, default=10)
    p.add_argument("--no-idle", action="store_true", help="skip the N=0, M=0 idle baseline run")
    p.add_argument("--settle", type=float, default=3.0, help="seconds to keep sampling after all are synced")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--controller", help="controller binary (default: target/release/sealed-secrets-controller)")
    p.add_argument("--controller-arg", action="append", default=[], help="extra controller argument (repeatable)")
    p.add_argument("--keep", action="store_true", help="keep the work directories (logs)")
    p.add_argument("--log-requests", action="store_true", help="fake apiserver: log every request (requests.log)")
    p.add_argument("--verbose", "-v", action="store_true", help="print request counts per route")
    p.add_argument("--json", help="write the results here")
    g = p.add_argument_group("real cluster")
    g.add_argument("--kubeconfig", help="measure against this cluster instead of the fake API server")
    g.add_argument("--home", help="controller namespace in the cluster (default sealed-secrets-bench)")
    g.add_argument("--keep-objects", action="store_true", help="do not delete the bench namespaces afterwards")
    g.add_argument("--reuse-namespaces", action="store_true",
                   help="allow existing namespaces (e.g. --home kube-system); only created ones are deleted")
    g.add_argument("--controller-cmd", help="run this command instead of our controller (shell syntax)")
    g.add_argument("--no-controller", action="store_true", help="start no controller; use --metrics-url")
    g.add_argument("--metrics-url", help="Prometheus endpoint of an already running controller")
    g.add_argument("--start-cmd", help="with --no-controller: shell command run once the objects exist "
                   "(e.g. kubectl scale deployment ... --replicas=1); the measurement starts after it")
    args = p.parse_args()

    controller_bin = args.controller or h.release_binary("sealed-secrets-controller")
    if not args.no_build:
        h.build(["sealed-controller", "sealed-cli"])
    results = []
    if args.kubeconfig:
        results.append(cluster_run(args, controller_bin))
    else:
        if not args.no_idle:
            results.append(fake_run(args, 0, 0, controller_bin))
        for m in [int(x) for x in args.secrets.split(",") if x.strip()]:
            results.append(fake_run(args, args.sealed_secrets, m, controller_bin))
    report(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
