#!/usr/bin/env python3
"""Whole-process CPU cost of `kubeseal --cert A.tls.crt < secrets.yaml`.

Builds the release binary, then runs it N times per case and reads the child's
user+sys CPU time from wait4(2): what a user pays per invocation, start-up included.

  python3 bench/kubeseal_cpu.py                 # build, measure, check targets
  python3 bench/kubeseal_cpu.py --runs 200
  python3 bench/kubeseal_cpu.py --jitter        # also build and measure a binary with
                                                # AWS-LC CPU-jitter entropy (for comparison)
  python3 bench/kubeseal_cpu.py --compare old=/path/to/kubeseal

Exit status 1 if the project's binary misses a target. Standard library only.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CERT = os.path.join(ROOT, "testdata/vectors/kubeseal-0.36.6/keys/A.tls.crt")

# (case, number of Secrets in the input, target ms CPU, upstream Go kubeseal ms CPU)
CASES = [
    ("1 Secret, 3 items", 1, 10.0, 27.0),
    ("100 Secrets, 3 items each", 100, 120.0, 350.0),
]


def secret_yaml(i):
    return (
        "---\n"
        "apiVersion: v1\n"
        "kind: Secret\n"
        "metadata:\n"
        f"  name: bench-secret-{i}\n"
        "  namespace: bench-ns\n"
        "type: Opaque\n"
        "stringData:\n"
        "  username: admin\n"
        "  password: correct horse battery staple\n"
        "  config.yaml: |\n"
        "    host: db.example.com\n"
        "    port: 5432\n"
        "    sslmode: verify-full\n"
    )


def build(target_dir=None, env_extra=None):
    cmd = ["cargo", "build", "--release", "-p", "sealed-cli"]
    if target_dir:
        cmd += ["--target-dir", target_dir]
    env = dict(os.environ, **(env_extra or {}))
    print("+", " ".join(f"{k}={v}" for k, v in (env_extra or {}).items()), *cmd, file=sys.stderr)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    return os.path.join(target_dir or os.path.join(ROOT, "target"), "release", "kubeseal")


def run_once(binary, input_path):
    """Runs kubeseal with stdin from input_path, stdout to /dev/null.
    Returns (cpu seconds, wall seconds, max RSS KiB, exit status)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, input_path, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
    ]
    argv = [binary, "--cert", CERT]
    start = time.perf_counter()
    pid = os.posix_spawn(binary, argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def check_output(binary, input_path, count):
    with open(input_path, "rb") as stdin:
        out = subprocess.run([binary, "--cert", CERT], stdin=stdin, capture_output=True, check=False)
    if out.returncode != 0:
        sys.exit(f"{binary} failed on {count} Secret(s): {out.stderr.decode(errors='replace')}")
    sealed = out.stdout.count(b'"kind": "SealedSecret"') + out.stdout.count(b"kind: SealedSecret")
    if sealed != count:
        sys.exit(f"{binary}: expected {count} SealedSecrets in the output, found {sealed}")


def measure(binary, input_path, runs):
    for _ in range(3):  # Warm the page cache and the dynamic loader.
        run_once(binary, input_path)
    cpu, wall, rss = [], [], []
    for _ in range(runs):
        c, w, r, code = run_once(binary, input_path)
        if code != 0:
            sys.exit(f"{binary} exited with {code}")
        cpu.append(c * 1000)
        wall.append(w * 1000)
        rss.append(r)
    return {
        "mean": statistics.fmean(cpu),
        "median": statistics.median(cpu),
        "min": min(cpu),
        "wall": statistics.median(wall),
        "rss": max(rss) / 1024,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=50, help="timed runs per case (default 50)")
    p.add_argument("--skip-build", action="store_true", help="use target/release/kubeseal as it is")
    p.add_argument("--jitter", action="store_true",
                   help="also build with AWS_LC_SYS_NO_JITTER_ENTROPY=0 into target/jitter and measure it")
    p.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH",
                   help="also measure another kubeseal binary (no targets apply)")
    args = p.parse_args()

    binary = os.path.join(ROOT, "target/release/kubeseal") if args.skip_build else build()
    binaries = [("kubeseal", binary)]
    if args.jitter:
        jitter = build(os.path.join(ROOT, "target/jitter"), {"AWS_LC_SYS_NO_JITTER_ENTROPY": "0"})
        binaries.append(("kubeseal (jitter entropy)", jitter))
    for spec in args.compare:
        label, _, path = spec.partition("=")
        binaries.append((label, os.path.abspath(path)))

    failed = []
    with tempfile.TemporaryDirectory(prefix="kubeseal-cpu-") as tmp:
        inputs = {}
        for case, count, _, _ in CASES:
            path = os.path.join(tmp, f"secrets-{count}.yaml")
            with open(path, "w") as f:
                f.write("".join(secret_yaml(i) for i in range(count)))
            inputs[case] = path

        print(f"\nCPU time (user+sys) per process, {args.runs} runs each; ms")
        head = f"{'binary':<27} {'case':<27} {'mean':>7} {'median':>7} {'min':>7} {'wall':>7} {'maxRSS':>8} {'target':>7} {'Go':>5}"
        print(head)
        print("-" * len(head))
        for label, path in binaries:
            for case, count, target, go in CASES:
                check_output(path, inputs[case], count)
                r = measure(path, inputs[case], args.runs)
                verdict = ""
                if label == "kubeseal":
                    ok = r["mean"] < target
                    verdict = "ok" if ok else "MISSED"
                    if not ok:
                        failed.append(f"{case}: {r['mean']:.1f} ms >= {target:.0f} ms")
                print(f"{label:<27} {case:<27} {r['mean']:7.2f} {r['median']:7.2f} {r['min']:7.2f} "
                      f"{r['wall']:7.2f} {r['rss']:6.1f}Mi {'<' + format(target, '.0f'):>7} {go:5.0f} {verdict}")
    print("\nmean/median/min: CPU ms; wall: median wall-clock ms; Go: upstream kubeseal v0.36 CPU ms")
    if failed:
        print("MISSED targets:", *failed, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
