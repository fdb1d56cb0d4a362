#!/usr/bin/env python3
"""Runs the unseal criterion benches and prints items/s, checking the targets.

  python3 bench/unseal_throughput.py              # cargo bench ... -- unseal, then report
  python3 bench/unseal_throughput.py --no-bench   # report the last results in target/criterion

Targets: one RSA-4096 item >= 300 items/s on one core; with 12 keys and the right key
tried first, within 1.5x of the 1-key time. Exit status 1 if one is missed.
Standard library only.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERION = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "criterion")

# (bench id, items opened per iteration, note)
ROWS = [
    ("unseal_item/rsa_oaep_only", 1, "RSA-OAEP decryption alone (aws-lc-rs)"),
    ("unseal_item/1_key", 1, "1 key"),
    ("unseal_item/12_keys_right_first", 1, "12 keys, right key first"),
    ("unseal_item/12_keys_right_last", 1, "12 keys, right key last"),
    ("unseal_sealed_secret/3_items_1_key", 3, "3-item SealedSecret, 1 key"),
    ("unseal_sealed_secret/3_items_12_keys_right_first", 3, "3-item SealedSecret, 12 keys, right first"),
    ("unseal_sealed_secret/3_items_12_keys_right_last", 3, "3-item SealedSecret, 12 keys, right last"),
]
TARGET_ITEMS_PER_S = 300.0
TARGET_KEY_ORDER_RATIO = 1.5


def estimates(bench_id):
    path = os.path.join(CRITERION, bench_id, "new", "estimates.json")
    try:
        with open(path) as f:
            e = json.load(f)
    except FileNotFoundError:
        return None
    return e["mean"]["point_estimate"], e["median"]["point_estimate"]  # ns per iteration


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-bench", action="store_true", help="only report the last results")
    args = p.parse_args()
    if not args.no_bench:
        cmd = ["cargo", "bench", "-p", "sealed-common", "--bench", "crypto", "--", "unseal"]
        print("+", *cmd, file=sys.stderr)
        subprocess.run(cmd, cwd=ROOT, check=True)

    results = {}
    print(f"\n{'benchmark':<52} {'ms/iter':>8} {'items/s':>9} {'(median)':>9}")
    for bench_id, items, note in ROWS:
        e = estimates(bench_id)
        if e is None:
            print(f"{bench_id:<52} {'(no result)':>8}")
            continue
        mean, median = e
        results[bench_id] = mean
        print(f"{bench_id:<52} {mean / 1e6:8.3f} {items * 1e9 / mean:9.1f} {items * 1e9 / median:9.1f}  {note}")

    failed = []
    one = results.get("unseal_item/1_key")
    first = results.get("unseal_item/12_keys_right_first")
    last = results.get("unseal_item/12_keys_right_last")
    print()
    if one:
        rate = 1e9 / one
        ok = rate >= TARGET_ITEMS_PER_S
        print(f"1 key: {rate:.0f} items/s (target >= {TARGET_ITEMS_PER_S:.0f}; upstream Go ~50) {'ok' if ok else 'MISSED'}")
        if not ok:
            failed.append("items/s with 1 key")
    if one and first:
        ratio = first / one
        ok = ratio <= TARGET_KEY_ORDER_RATIO
        print(f"12 keys, right first / 1 key: {ratio:.2f}x (target <= {TARGET_KEY_ORDER_RATIO}x) {'ok' if ok else 'MISSED'}")
        if not ok:
            failed.append("12-key slowdown with the right key first")
    if one and last:
        print(f"12 keys, right last / 1 key: {last / one:.2f}x (every wrong key costs a full RSA decryption)")
    if failed:
        print("MISSED targets:", *failed, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
