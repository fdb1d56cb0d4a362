#!/usr/bin/env python3
"""Unseal throughput of the whole controller with 1 and with 12 keys in the registry.

Runs the release sealed-secrets-controller against bench/fake_apiserver.py, with N
SealedSecrets (default 1000, 3 items each) sealed to the OLDEST key (fixture key A) and
either key A alone or A plus 11 newer RSA-4096 keys. Per key count, two phases:

  cold    the SealedSecrets appear at once (POST /_bench/release, ADDED events) with no
          status and nothing remembered: no hint of their own. KeyRegistry::keys_for
          then tries the key that most recently opened any object, then newest first.
          The reconciles that compute their key order before any unseal has finished
          (up to the 16 that run at once) find no such key and try A, the right key,
          last: 12 RSA decryptions for the first item, then 1 per item (unseal tries the
          key that opened the previous item first). Every later object gets A first:
          1 decryption per item, as with 1 key.
  steady  every SealedSecret's generation is bumped (POST /_bench/touch), as a spec edit
          would: now status.keyFingerprint names A (or, with --upstream-crd, the
          controller remembers that A opened it), keys_for puts it first, and each item
          costs one RSA decryption whatever the number of keys. Repeated --touches times.

Each phase is timed from the trigger until every SealedSecret has Synced=True for its
generation (and, when cold, its Secret). Controller CPU (utime+stime from /proc) is read
at both ends, and so is its unseal_duration_seconds histogram: the sum over the phase
is the time spent in unseal jobs (RSA, AES-GCM, base64), the count the unseals. A job's
time is wall time on a blocking thread, so it grows with the machine's load. The
controller runs at most one RSA job per core (2 here), and the fake API server shares
the cores, so objects/s by wall time understates what the controller alone could do;
CPU ms per object is the steadier figure.

  python3 bench/controller_unseal.py              # build, generate keys once, 1 and 12
                                                  # keys; exit 1 if 12 keys cost more
                                                  # than 1.3x 1 key cold, 1.5x steady
  python3 bench/controller_unseal.py --no-build --sealed-secrets 500 --items 1
  python3 bench/controller_unseal.py --upstream-crd   # status.keyFingerprint pruned,
                                                      # as with upstream's CRD

The 11 extra keys are made once with `cargo run --release -p sealed-common --example
gen_key` and cached under $CARGO_TARGET_DIR/bench-keys/controller/ (default
target/bench-keys/controller/; delete it to make new ones). Standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

EXTRA_KEYS = 11
UNSEAL_HISTOGRAM = "sealed_secrets_controller_unseal_duration_seconds"


def keys_dir():
    return os.path.join(h.target_dir(), "bench-keys", "controller")


def ensure_keys(count):
    """Generates the extra key pairs once; returns their directories, oldest first."""
    gen = os.path.join(h.target_dir(), "release", "examples", "gen_key")
    dirs = []
    for i in range(count):
        d = os.path.join(keys_dir(), f"key-{i:02d}")
        if not (os.path.exists(os.path.join(d, "tls.key")) and os.path.exists(os.path.join(d, "tls.crt"))):
            t0 = time.monotonic()
            subprocess.run([gen, d, "4096", f"bench key {i:02d}", "3650"], check=True, stdout=subprocess.DEVNULL)
            print(f"  generated {d} in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
            time.sleep(1.0)  # distinct NotBefore seconds, so the key order is the generation order
        dirs.append(d)
    return dirs


def run_case(args, extra_dirs, controller_bin):
    nkeys = 1 + len(extra_dirs)
    loadavg = os.getloadavg()[0]
    work = h.workdir(f"ctrl-unseal-{nkeys}keys-")
    key_args = ["--key", "A"]
    for i, d in enumerate(extra_dirs):
        key_args += ["--key", f"sealed-secrets-key-bench{i:02d}={d}"]
    server = h.FakeServer(work, key_args + [
        "--sealed-secrets", str(args.sealed_secrets), "--items", str(args.items), "--defer-sealed",
        "--seal-cert", os.path.join(h.KEYS_DIR, "A.tls.crt"), "--namespaces", str(args.namespaces),
    ] + (["--upstream-crd"] if args.upstream_crd else []), log_requests=args.log_requests)
    kubeconfig = h.write_kubeconfig(os.path.join(work, "kubeconfig"), server.url)
    ctrl = h.Controller(work, h.controller_cmd(controller_bin, kubeconfig, extra=args.controller_arg))
    print(f"{nkeys} key(s): fake API server {server.url}, controller pid {ctrl.pid}, logs in {work}", file=sys.stderr)
    n = args.sealed_secrets
    phases = []
    try:
        h.wait_for(lambda: any("sealedsecrets?watch" in k for k in server.stats()["counters"]),
                   args.timeout, what="the SealedSecret watch", proc=ctrl)
        time.sleep(1.0)
        startup_cpu = ctrl.cpu_s()
        metrics = ctrl.metrics_url()

        def unseal_histogram():
            m = h.scrape(metrics) if metrics else {}
            return {k[len(UNSEAL_HISTOGRAM):]: v for k, v in m.items() if k.startswith(UNSEAL_HISTOGRAM)}

        def phase(name, trigger, need_secrets):
            hist0 = unseal_histogram()
            cpu0, t0 = ctrl.cpu_s(), time.monotonic()
            server.post(trigger)

            def done():
                s = server.stats()
                ok = s["synced"] + s["failed"] >= n and (not need_secrets or s["controller_secrets"] >= n)
                return s if ok else None

            s = h.wait_for(done, args.timeout, interval=0.02, check_interval=0.05, what=f"{name}: {n} synced", proc=ctrl)
            wall, cpu = time.monotonic() - t0, ctrl.cpu_s() - cpu0
            hist = {k: v - hist0.get(k, 0) for k, v in unseal_histogram().items()}
            fps = s["status_key_fingerprints"]
            phases.append({"phase": name, "wall_s": wall, "cpu_s": cpu, "synced": s["synced"], "failed": s["failed"],
                           "fingerprints": fps, "unseal_histogram": hist})
            print(f"  {nkeys} key(s) {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, {s['synced']} synced, "
                  f"{s['failed']} failed", file=sys.stderr, flush=True)

        phase("cold (no hint)", "release", True)
        for i in range(args.touches):
            phase(f"steady #{i + 1} (hint)", "touch", False)
        stats = server.stats()
    finally:
        status = ctrl.stop()
        server.stop()
    counts, samples = h.log_summary(ctrl.log_path)
    result = {"keys": nkeys, "n": n, "items": args.items, "startup_cpu_s": startup_cpu, "phases": phases,
              "exit_status": status, "log_levels": counts, "log_samples": samples,
              "requests": stats["counters"], "unknown": stats["unknown"], "workdir": work, "loadavg": loadavg}
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return result


def slow_unseals(phase):
    """The cumulative buckets of the phase's unseal-duration histogram, from the median up."""
    buckets = sorted((float(k.split('"')[1]), v) for k, v in phase["unseal_histogram"].items()
                     if k.startswith("_bucket") and '"+Inf"' not in k)
    total = phase["unseal_histogram"].get("_count", 0)
    shown = [(le, v) for le, v in buckets if v >= total / 2]
    shown = [(le, v) for i, (le, v) in enumerate(shown) if i == 0 or shown[i - 1][1] < total]
    return ", ".join(f"<={le:g}: {v:.0f}" for le, v in shown) + f", all: {total:.0f}"


def report(results, args):
    print()
    print(f"sealed-secrets-controller unseal throughput: {args.sealed_secrets} SealedSecrets x {args.items} items, "
          f"sealed to the oldest key; {h.lscpu_model()}")
    with open(os.path.join(h.KEYS_DIR, "A.fingerprint")) as f:
        fp_a = f.read().strip()
    base = {}
    rows = []
    for r in results:
        steady = [p for p in r["phases"] if p["phase"].startswith("steady")]
        cold = [p for p in r["phases"] if p["phase"].startswith("cold")]
        groups = [("cold (no hint)", cold), ("steady (hint pruned)" if args.upstream_crd else "steady (hint)", steady)]
        for label, ps in groups:
            if not ps:
                continue
            wall = statistics.median(p["wall_s"] for p in ps)
            cpu = statistics.median(p["cpu_s"] for p in ps)
            per_obj = 1000 * cpu / r["n"]
            unseal = [p["unseal_histogram"] for p in ps if p["unseal_histogram"].get("_count")]
            unseal_ms = statistics.median(1000 * u["_sum"] / u["_count"] for u in unseal) if unseal else None
            key = label
            if r["keys"] == 1:
                base[key] = per_obj
            ratio = per_obj / base[key] if key in base and base[key] else None
            # Only the objects whose key order was made before anything opened walk the keys.
            rsa = f"{r['items']}" + (f" (+{r['keys'] - 1} first few)" if label.startswith("cold") and r["keys"] > 1 else "")
            rows.append([f"{r['keys']} key(s)", label + (f" x{len(ps)}" if len(ps) > 1 else ""), f"{wall:.2f}",
                         f"{r['n'] / wall:.0f}", f"{cpu:.2f}", f"{per_obj:.2f}",
                         "-" if unseal_ms is None else f"{unseal_ms:.2f}", rsa, f"{ratio:.2f}x" if ratio else "-"])
        all_a = all(p["fingerprints"].get(fp_a, 0) == r["n"] for p in r["phases"])
        r["all_status_fingerprints_are_A"] = all_a
    print("1-minute load average at the start of each run: "
          + ", ".join(f"{r['loadavg']:.2f}" for r in results) + f"; now {os.getloadavg()[0]:.2f}")
    h.print_table(["registry", "phase", "wall s", "objects/s", "CPU s", "CPU ms/object", "unseal ms/object",
                   "RSA ops/object", "CPU vs 1 key"], rows)
    print("\n(medians over the phases of a kind; unseal ms/object: mean time of an unseal job, from the controller's "
          "unseal_duration_seconds; RSA ops/object: decryptions the key order implies)")
    for r in results:
        for p in r["phases"]:
            if p["phase"].startswith("cold") and r["keys"] > 1:
                print(f"{r['keys']} key(s) cold: unseal jobs by duration (s, cumulative): " + slow_unseals(p))
    for r in results:
        print(f"{r['keys']} key(s): start-up CPU {r['startup_cpu_s']:.2f} s; status.keyFingerprint = A on every object "
              f"after every phase: {r['all_status_fingerprints_are_A']}; exit status {r['exit_status']}; "
              f"log levels {r['log_levels']}")
        for line in r["log_samples"]:
            if "WARN" in line or "ERROR" in line:
                print("    ", line)
        for line in r["unknown"]:
            print("     fake apiserver:", line)
    crd = "upstream's CRD (status.keyFingerprint pruned)" if args.upstream_crd else "this project's CRD"
    code = 0
    print()
    for kind, limit in (("cold", 1.3), ("steady", 1.5)):
        row = next((row for row in rows if row[0] == "12 key(s)" and row[1].startswith(kind)), None)
        if row is None or row[-1] == "-":
            continue
        ratio = float(row[-1].rstrip("x"))
        met = ratio <= limit
        code |= 0 if met else 1
        print(f"target, {crd}: 12 keys within {limit}x of 1 key, {kind} (CPU per object): {ratio:.2f}x, "
              f"{'met' if met else 'MISSED'}")
    return code


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sealed-secrets", type=int, default=1000, metavar="N")
    p.add_argument("--items", type=int, default=3)
    p.add_argument("--namespaces", type=int, default=10)
    p.add_argument("--keys", default="1,12", help="registry sizes to run (1 to 12)")
    p.add_argument("--touches", type=int, default=3, help="steady-state rounds per run")
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--controller", help="controller binary (default: target/release/sealed-secrets-controller)")
    p.add_argument("--controller-arg", action="append", default=[])
    p.add_argument("--keep", action="store_true", help="keep the work directories (logs)")
    p.add_argument("--log-requests", action="store_true")
    p.add_argument("--upstream-crd", action="store_true",
                   help="the fake API server prunes status.keyFingerprint, as upstream's CRD does: no hint")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    controller_bin = args.controller or h.release_binary("sealed-secrets-controller")
    if not args.no_build:
        h.build(["sealed-controller", "sealed-cli"], examples=["gen_key"])
    sizes = [int(x) for x in args.keys.split(",")]
    if any(not 1 <= k <= 1 + EXTRA_KEYS for k in sizes):
        raise SystemExit(f"--keys: between 1 and {1 + EXTRA_KEYS}")
    extra = ensure_keys(max(sizes) - 1)
    results = [run_case(args, extra[:k - 1], controller_bin) for k in sizes]
    code = report(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return code


if __name__ == "__main__":
    sys.exit(main())
