#!/usr/bin/env python3
"""What a controller restart over unchanged SealedSecrets costs and writes.

bench/fake_apiserver.py is preloaded with N SealedSecrets (default 1000, 3 items each,
over 10 namespaces, sealed to fixture key A) and key A. A first release controller
unseals them all (a Secret, a status and an `Unsealed` event each) and is stopped with
SIGTERM once every object is Synced and the requests have stopped. The fake's counters
are zeroed (POST /_bench/reset) and a second controller starts against the same server
and objects, as after a rollout or a crash. Nothing changed, so it should re-check
every object and write nothing. For that second controller it reports:

  events written    POST/PUT/PATCH to events (core or events.k8s.io)
  Secret writes     POST/PUT/PATCH/DELETE on Secrets
  status writes     PUT/PATCH on sealedsecrets/*/status
  Secret reads      GET of single Secrets (one per re-checked object)
  time to quiet     from its start until it has re-checked every object (N Secret
                    GETs) and no request counter changed for --settle seconds; the
                    time and CPU are taken at the last change. Its metric
                    sealed_secrets_controller_unseal_requests_total is read once, at
                    the end (a scrape formats a series per object: not while measuring)
  CPU               utime+stime of the controller process until then

--restarts K repeats the restart K times (controller 2, 3, ... each measured), which
gives repeated figures from one setup. Any controller binary can be measured the same
way, e.g. one built from an older commit in another worktree:

  python3 bench/controller_restart.py                 # build, 1000 objects, 3 restarts
  python3 bench/controller_restart.py --no-build --sealed-secrets 300 --restarts 1
  python3 bench/controller_restart.py --no-build \\
      --controller /work/wt-old/target/release/sealed-secrets-controller

(`--first-controller` sets the binary of the first run separately; by default both are
--controller.) `--wrap` runs the restarted controllers under another command, e.g. to
count their instructions (CPU figures are then the wrapper's):

  python3 bench/controller_restart.py --no-build --sealed-secrets 300 --restarts 1 --keep \
      --wrap 'valgrind --tool=callgrind --callgrind-out-file=/tmp/restart.%p.out'

Standard library only.
"""

import argparse
import json
import os
import shlex
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def classify(counters):
    """Request counters ("METHOD route": n) -> the figures of the report."""
    out = {"events written": 0, "Secret writes": 0, "status writes": 0, "other writes": 0, "Secret reads": 0,
           "requests": 0}
    for key, n in counters.items():
        method, _, route = key.partition(" ")
        if method not in WRITES + ("GET",):
            continue  # "watch events sent (...)" and other non-request counters
        out["requests"] += n
        path = route.split("?")[0]
        resource = path.split("/")[2] if path.startswith("namespaces/") else path.split("/")[0]
        if method == "GET":
            if resource == "secrets" and path.endswith("/*"):
                out["Secret reads"] += n
        elif resource == "events":
            out["events written"] += n
        elif resource == "secrets":
            out["Secret writes"] += n
        elif resource == "sealedsecrets" and path.endswith("/status"):
            out["status writes"] += n
        else:
            out["other writes"] += n
    return out


def run_until_quiet(ctrl, server, n, args, label):
    """Follows the fake's counters until every object is re-checked and nothing moves."""
    started = ctrl.started
    last = {"counters": None, "t": time.monotonic(), "cpu": ctrl.cpu_s()}
    def check():
        s = server.stats()
        now = time.monotonic()
        if s["counters"] != last["counters"]:
            last.update(counters=s["counters"], t=now, cpu=ctrl.cpu_s(), stats=s)
            return None
        rechecked = classify(s["counters"])["Secret reads"] >= n
        if rechecked and s["synced"] + s["failed"] >= n and now - last["t"] >= args.settle:
            return s
        return None

    s = h.wait_for(check, args.timeout, interval=0.05, check_interval=0.1, what=f"{label}: quiet", proc=ctrl)
    url = ctrl.metrics_url()
    metric = h.scrape(url).get("sealed_secrets_controller_unseal_requests_total") if url else None
    figures = classify(s["counters"])
    figures.update(label=label, pid=ctrl.pid, seconds_to_quiet=last["t"] - started, cpu_s_to_quiet=last["cpu"],
                   unseal_requests_metric=metric, synced=s["synced"], failed=s["failed"],
                   controller_secrets=s["controller_secrets"], counters=s["counters"], loadavg=os.getloadavg()[0])
    print(f"  {label}: quiet after {figures['seconds_to_quiet']:.2f} s, CPU {figures['cpu_s_to_quiet']:.2f} s, "
          f"{figures['events written']} events, {figures['Secret writes']} Secret writes, "
          f"{figures['status writes']} status writes, {figures['Secret reads']} Secret reads",
          file=sys.stderr, flush=True)
    return figures


def run(args, first_bin, controller_bin):
    n = args.sealed_secrets
    work = h.workdir("ctrl-restart-")
    server = h.FakeServer(work, ["--sealed-secrets", str(n), "--items", str(args.items),
                                 "--namespaces", str(args.namespaces), "--key", "A"], log_requests=args.log_requests)
    kubeconfig = h.write_kubeconfig(os.path.join(work, "kubeconfig"), server.url)
    results, ctrl = [], None
    print(f"fake API server {server.url}, logs in {work}", file=sys.stderr)
    try:
        for i in range(1 + args.restarts):
            binary = first_bin if i == 0 else controller_bin
            if i:
                server.post("reset")
            cmd = h.controller_cmd(binary, kubeconfig, extra=args.controller_arg)
            if i and args.wrap:
                cmd = shlex.split(args.wrap) + cmd
            ctrl = h.Controller(work, cmd, name=f"controller-{i + 1}")
            label = "first start" if i == 0 else f"restart {i}"
            figures = run_until_quiet(ctrl, server, n, args, label)
            figures["exit_status"] = ctrl.stop()
            figures["log_levels"], figures["log_samples"] = h.log_summary(ctrl.log_path)
            results.append(figures)
            ctrl = None
        stats = server.stats()
    finally:
        if ctrl is not None:
            ctrl.stop()
        server.stop()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return results, stats


def report(results, stats, args, first_bin, controller_bin):
    n = args.sealed_secrets
    print()
    print(f"sealed-secrets-controller restart over {n} unchanged SealedSecrets x {args.items} items; {h.lscpu_model()}")
    print(f"first: {first_bin}\nthen:  {controller_bin}")
    print("1-minute load average at the end of each run: " + ", ".join(f"{r['loadavg']:.2f}" for r in results))
    rows = [[r["label"], f"{r['seconds_to_quiet']:.2f}", f"{r['cpu_s_to_quiet']:.2f}",
             f"{1000 * r['cpu_s_to_quiet'] / n:.2f}", r["events written"], r["Secret writes"], r["status writes"],
             r["other writes"], r["Secret reads"], r["requests"],
             "-" if r["unseal_requests_metric"] is None else f"{r['unseal_requests_metric']:.0f}"]
            for r in results]
    h.print_table(["run", "s to quiet", "CPU s", "CPU ms/object", "events", "Secret writes", "status writes",
                   "other writes", "Secret GETs", "requests", "unseal_requests_total"], rows)
    for r in results:
        bad = {k: v for k, v in r["log_levels"].items() if k in ("WARN", "WARNING", "ERROR")}
        if bad or r["exit_status"] != 0:
            print(f"{r['label']}: exit status {r['exit_status']}, log levels {r['log_levels']}")
            for line in r["log_samples"]:
                print("    ", line)
    for line in stats["unknown"]:
        print("  fake apiserver:", line)
    if args.verbose:
        for r in results:
            print(f"\n{r['label']} requests:")
            for k, v in sorted(r["counters"].items()):
                print(f"    {v:7d}  {k}")
    restarts = results[1:]
    quiet = all(r["events written"] == 0 and r["Secret writes"] == 0 and r["status writes"] == 0 for r in restarts)
    print(f"\nrestarts wrote nothing (0 events, 0 Secret writes, 0 status writes): {'yes' if quiet else 'NO'}")
    return 0 if quiet else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sealed-secrets", type=int, default=1000, metavar="N")
    p.add_argument("--items", type=int, default=3)
    p.add_argument("--namespaces", type=int, default=10)
    p.add_argument("--restarts", type=int, default=3)
    p.add_argument("--settle", type=float, default=2.0, help="seconds without any request that count as quiet")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--controller", help="controller binary (default: target/release/sealed-secrets-controller)")
    p.add_argument("--first-controller", help="binary of the first run (default: --controller)")
    p.add_argument("--controller-arg", action="append", default=[])
    p.add_argument("--wrap", help="command prefix for the restarted controllers (e.g. valgrind ...)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    p.add_argument("--log-requests", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true", help="requests per route")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    controller_bin = args.controller or h.release_binary("sealed-secrets-controller")
    first_bin = args.first_controller or controller_bin
    if not args.no_build:
        h.build(["sealed-controller", "sealed-cli"])
    results, stats = run(args, first_bin, controller_bin)
    code = report(results, stats, args, first_bin, controller_bin)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return code


if __name__ == "__main__":
    sys.exit(main())
