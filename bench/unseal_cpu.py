#!/usr/bin/env python3
"""CPU time per opened item outside the controller, by `kubeseal --recovery-unseal`.

The criterion benches (common/benches/crypto.rs) give wall time, which a loaded machine
inflates. This measures CPU time instead: it seals M Secrets of 3 items (default 100)
to fixture key A with our kubeseal, then runs

  kubeseal --recovery-unseal --recovery-private-key A.tls.key -o json < sealed

--runs times on the M-object input and on a 1-object input, reading each process's
user+sys CPU from wait4(2). CPU per item = (median CPU with M objects - median CPU with
1) / ((M - 1) x 3): one RSA-4096 OAEP decryption, AES-256-GCM and base64 per item, plus
kubeseal's JSON, without start-up and key parsing. Compare the controller's CPU per
item (bench/controller_unseal.py) with it.

  python3 bench/unseal_cpu.py                  # builds kubeseal, 100 objects, 7 runs
  python3 bench/unseal_cpu.py --no-build --objects 200 --runs 11

Standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from fakeapi import bench as fb  # noqa: E402

ITEMS = 3


def run_once(argv, input_path):
    """(CPU s, wall s) of one run, stdin from input_path, stdout discarded."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, input_path, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} < {input_path} failed")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objects", type=int, default=100, metavar="M")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--kubeseal", help="kubeseal binary (default: target/release/kubeseal)")
    args = p.parse_args()
    kubeseal = args.kubeseal or h.release_binary("kubeseal")
    if not args.no_build:
        h.build(["kubeseal"])
    cert, key = (os.path.join(h.KEYS_DIR, f"A.tls.{x}") for x in ("crt", "key"))
    work = tempfile.mkdtemp(prefix="unseal-cpu-")
    plain = [fb.plain_secret(f"sealed-{i:05d}", f"bench-{i % 10}", ITEMS) for i in range(args.objects)]
    sealed = fb.seal_all(kubeseal, cert, plain)
    inputs = {}
    for count in (1, args.objects):
        inputs[count] = os.path.join(work, f"sealed-{count}.json")
        with open(inputs[count], "w") as f:
            f.write("".join(json.dumps(s) + "\n" for s in sealed[:count]))
    argv = [kubeseal, "--recovery-unseal", "--recovery-private-key", key, "-o", "json"]
    out = subprocess.run(argv, stdin=open(inputs[args.objects]), capture_output=True, text=True, check=True).stdout
    opened = fb.decode_stream(out)
    if len(opened) != args.objects or any(o.get("kind") != "Secret" for o in opened):
        raise SystemExit(f"kubeseal --recovery-unseal gave {len(opened)} objects for {args.objects}")

    loads = [os.getloadavg()[0]]
    cpu, wall = {1: [], args.objects: []}, {1: [], args.objects: []}
    run_once(argv, inputs[1])  # warm-up
    for _ in range(args.runs):
        for count in (1, args.objects):
            c, w = run_once(argv, inputs[count])
            cpu[count].append(c)
            wall[count].append(w)
    loads.append(os.getloadavg()[0])
    items = (args.objects - 1) * ITEMS
    med = {k: statistics.median(v) for k, v in cpu.items()}
    per_item = (med[args.objects] - med[1]) / items
    wall_item = (statistics.median(wall[args.objects]) - statistics.median(wall[1])) / items
    spread = sorted((c - med[1]) / items * 1000 for c in cpu[args.objects])
    print(f"kubeseal --recovery-unseal, {args.objects} objects x {ITEMS} items, {args.runs} runs; {h.lscpu_model()}; "
          f"load average {loads[0]:.2f} -> {loads[1]:.2f}")
    print(f"  CPU, 1 object:  {1000 * med[1]:.1f} ms (start-up, key, 3 items)")
    print(f"  CPU, {args.objects} objects: {1000 * med[args.objects]:.1f} ms")
    print(f"  CPU per item:   {1000 * per_item:.3f} ms  ({1 / per_item:.0f} items/s per core; "
          f"runs {spread[0]:.3f} to {spread[-1]:.3f} ms)")
    print(f"  wall per item:  {1000 * wall_item:.3f} ms")
    import shutil
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
