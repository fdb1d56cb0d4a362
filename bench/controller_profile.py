#!/usr/bin/env python3
"""Where the controller's CPU goes while it unseals: a split by kind of work.

Starts bench/fake_apiserver.py with N SealedSecrets (default 300, 3 items, sealed to
fixture key A) held back (--defer-sealed), and the release controller with key A (and
--keys - 1 newer keys). It profiles one phase, as bench/controller_unseal.py defines them:
cold (POST /_bench/release: every object new, Secret created) or steady (after a cold
phase, POST /_bench/touch: every object re-opened, nothing but the status checked).

  --tool callgrind  the controller runs under `valgrind --tool=callgrind` with
                    instrumentation off until the phase starts (callgrind_control -i on)
                    and dumped when it ends: exact user-space instruction counts (Ir),
                    about 50x slower;
                    also the number of RSA decryptions (calls of EVP_PKEY_decrypt)
  --tool perf       `perf record -e cpu-clock` attached to the controller for the phase
                    only: time samples, kernel included (no hardware counters needed)

The cost of each function itself (not of what it calls) is put in a category by its
symbol (RULES below, first match wins), except for AWS-LC: all its code is crypto (with
callgrind, also what it calls outside itself: memset, malloc), and AES-GCM is what
EVP_AEAD_CTX_open and the AEAD set-up cost including their callees (so RSA blinding's
random numbers, which use AES, stay with RSA). Functions inlined into
others count for the function they were inlined into.

  python3 bench/controller_profile.py --tool callgrind --sealed-secrets 300
  python3 bench/controller_profile.py --tool callgrind --phase steady --sealed-secrets 200
  python3 bench/controller_profile.py --tool callgrind --keys 12      # RSA calls, 12 keys cold
  python3 bench/controller_profile.py --tool perf --sealed-secrets 1000

Needs valgrind (callgrind_control) or perf; builds nothing (run controller_unseal.py or
cargo build --release first). Standard library only.
"""

import argparse
import collections
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

# (category, regex on the symbol); the first match wins. AWS-LC is handled before these.
RULES = [
    ("base64", r"base64"),
    ("JSON (serde, serde_json, k8s-openapi (de)serialisers)", r"serde|Deserializ|Serializ|\bvisit_|MapAccess|SeqAccess"),
    ("logging (tracing, tracing-subscriber)", r"tracing|sharded_slab|nu_ansi_term|\bmatchers::|regex_automata"),
    ("kube client and HTTP (kube, hyper, http, tower)",
     r"kube_client|kube_core|\bhyper|\bh2::|\bhttp::|httparse|\btower|\bbytes::|form_urlencoded|\burl::|percent_encoding"),
    ("kube-runtime (watcher, store, scheduler)", r"kube_runtime"),
    ("async runtime (tokio, futures)", r"\btokio|\bfutures|\bmio::|parking_lot|crossbeam"),
    ("allocation (malloc, free)",
     r"^(_int_)?(malloc|free|realloc|calloc|cfree)|malloc_consolidate|unlink_chunk|tcache|__rust_(de|re)?alloc|"
     r"__rdl_|alloc::alloc::|raw_vec|RawVec|drop_in_place"),
    ("memcpy, memmove, memset, memcmp", r"mem(cpy|move|set|cmp|chr)|__(memcpy|memmove|memset|memcmp)|bcmp"),
    ("formatting (core::fmt)", r"core::fmt|alloc::fmt|<.* as core::fmt::|fmt::Write|Formatter"),
    ("sealed-common and controller code", r"sealed_common|sealed_controller|sealed_secrets_controller"),
]
AWS_LC = re.compile(r"aws_lc|^_{0,2}(bn_|BN_|mul4x|mulx4x|sqr8x|sqrx8x|rsaz|RSAZ|rsa_|RSA_|pkey_|EVP_|aes|AES|"
                    r"aead_|gcm_|GCM|ghash|sha\d|SHA\d|ctr_drbg|CTR_DRBG|RAND_|rand_|CRYPTO_|OPENSSL_|ecp_|fiat_)")
AEAD_ROOTS = ("EVP_AEAD_CTX_open", "EVP_AEAD_CTX_init", "EVP_AEAD_CTX_new", "EVP_AEAD_CTX_free",
              "EVP_AEAD_CTX_cleanup")
RSA_CALL = "EVP_PKEY_decrypt"
RSA_CATEGORY = "RSA-4096 OAEP (the rest of AWS-LC: bignum, SHA-256, blinding)"
KERNEL = "kernel (syscalls: sockets, futex, page faults)"


def category(sym, rules=[(name, re.compile(rx)) for name, rx in RULES]):
    if AWS_LC.search(sym):
        return "crypto"
    return next((name for name, rx in rules if rx.search(sym)), "the rest (std, hashbrown, prometheus, jiff, libc, ...)")


def categorise(self_costs, aead_inclusive, called_by_crypto=None, kernel=0):
    """{category: cost}: AWS-LC split into RSA and AES-GCM, the rest by RULES. What
    AWS-LC calls outside itself (memset, malloc: called_by_crypto, callee -> inclusive
    cost) moves from the callee's category to crypto."""
    cats = collections.Counter()
    for sym, cost in self_costs.items():
        cats[category(sym)] += cost
    for callee, cost in (called_by_crypto or {}).items():
        cats[category(callee)] -= cost
        cats["crypto"] += cost
    crypto = cats.pop("crypto", 0)
    aead = min(aead_inclusive, crypto)
    cats["AES-256-GCM (EVP_AEAD_CTX_open and set-up, inclusive)"] += aead
    cats[RSA_CATEGORY] += crypto - aead
    if kernel:
        cats[KERNEL] += kernel
    return cats


# ---------------------------------------------------------------- callgrind output


def parse_callgrind(path):
    """Self cost per function, inclusive cost of the AEAD roots, calls of RSA_CALL."""
    names = {}  # name compression: "(id) name" once, then "(id)"; fn= and cfn= share the ids
    self_cost = collections.Counter()
    aead = 0
    rsa_calls = rsa_inclusive = 0
    called_by_crypto = collections.Counter()
    fn = cfn = None
    after_calls = None  # the call count, while the next cost line is a call's inclusive cost

    def name_of(text):
        m = re.match(r"\((\d+)\)(?: (.*))?", text)
        if not m:
            return text
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), text)

    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn = name_of(line[3:].strip())
            elif line.startswith("cfn="):
                cfn = name_of(line[4:].strip())
            elif line.startswith("calls="):
                after_calls = int(line[6:].split()[0])
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if after_calls is not None:
                    # Inclusive cost of a call from fn to cfn.
                    if strip(cfn) in AEAD_ROOTS and strip(fn) not in AEAD_ROOTS:
                        aead += cost
                    if strip(cfn) == RSA_CALL and strip(fn) != RSA_CALL:
                        rsa_calls += after_calls
                        rsa_inclusive += cost
                    if AWS_LC.search(fn or "") and not AWS_LC.search(cfn or ""):
                        called_by_crypto[cfn] += cost
                    after_calls = None
                elif fn is not None:
                    self_cost[fn] += cost
    return self_cost, aead, rsa_calls, rsa_inclusive, called_by_crypto


def strip(sym):
    """aws_lc_0_47_0_EVP_PKEY_decrypt -> EVP_PKEY_decrypt."""
    return re.sub(r"^aws_lc_\d+_\d+_\d+_", "", sym or "")


# ---------------------------------------------------------------- perf output


def parse_perf(path):
    out = subprocess.run(["perf", "script", "-i", path, "-F", "ip,sym,dso"], capture_output=True, text=True,
                         check=True).stdout
    self_cost, kernel = collections.Counter(), collections.Counter()
    for line in out.splitlines():
        line = line.strip()
        if not line:
            continue
        m = re.match(r"[0-9a-f]+\s+(.*?)\s+\((.*)\)$", line)
        sym, dso = (m.group(1), m.group(2)) if m else (line, "")
        sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
        if "kernel" in dso or dso.startswith("[") and "vdso" not in dso:
            kernel[sym] += 1
        else:
            self_cost[sym] += 1
    # AES-GCM is not separable from samples without call chains: its own symbols only.
    aead = sum(c for s, c in self_cost.items() if re.search(r"aes_gcm|aesni_gcm|gcm_|ghash|AEAD", s))
    return self_cost, aead, kernel


# ---------------------------------------------------------------- run


def run(args):
    import controller_unseal as cu
    n = args.sealed_secrets
    work = h.workdir(f"ctrl-profile-{args.tool}-")
    extra = cu.ensure_keys(args.keys - 1) if args.keys > 1 else []
    key_args = ["--key", "A"]
    for i, d in enumerate(extra):
        key_args += ["--key", f"sealed-secrets-key-bench{i:02d}={d}"]
    server = h.FakeServer(work, key_args + [
        "--sealed-secrets", str(n), "--items", str(args.items), "--defer-sealed", "--namespaces", "10",
        "--seal-cert", os.path.join(h.KEYS_DIR, "A.tls.crt")])
    kubeconfig = h.write_kubeconfig(os.path.join(work, "kubeconfig"), server.url)
    binary = args.controller or h.release_binary("sealed-secrets-controller")
    cmd = h.controller_cmd(binary, kubeconfig)
    out = os.path.join(work, "callgrind.out")
    if args.tool == "callgrind":
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p"] + cmd
    ctrl = h.Controller(work, cmd)
    print(f"fake API server {server.url}, controller pid {ctrl.pid} ({args.tool}), work dir {work}", file=sys.stderr)
    result = {}
    perf = None
    try:
        h.wait_for(lambda: any("sealedsecrets?watch" in k for k in server.stats()["counters"]),
                   args.timeout, what="the SealedSecret watch", proc=ctrl)

        def phase(trigger, profiled):
            nonlocal perf
            need_secrets = trigger == "release"
            if profiled and args.tool == "callgrind":
                subprocess.run(["callgrind_control", "-i", "on", str(ctrl.pid)], check=True, capture_output=True)
            if profiled and args.tool == "perf":
                perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", str(args.frequency), "-p",
                                         str(ctrl.pid), "-o", out + ".perf"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            cpu0, t0 = ctrl.cpu_s(), time.monotonic()
            server.post(trigger)

            def done():
                s = server.stats()
                return s["synced"] + s["failed"] >= n and (not need_secrets or s["controller_secrets"] >= n) and s

            s = h.wait_for(done, args.timeout, interval=0.1, check_interval=0.2, what=f"{trigger}: {n} synced",
                           proc=ctrl)
            time.sleep(0.3)  # the last status write's answer
            cpu, wall = ctrl.cpu_s() - cpu0, time.monotonic() - t0
            if profiled and args.tool == "callgrind":
                subprocess.run(["callgrind_control", "-d", str(ctrl.pid)], check=True, capture_output=True)
                subprocess.run(["callgrind_control", "-i", "off", str(ctrl.pid)], check=True, capture_output=True)
            if profiled and args.tool == "perf":
                perf.send_signal(signal.SIGINT)
                perf.wait(60)
            return {"trigger": trigger, "cpu_s": cpu, "wall_s": wall, "synced": s["synced"], "failed": s["failed"]}

        if args.phase == "steady":
            phase("release", False)
            result = phase("touch", True)
        else:
            result = phase("release", True)
    finally:
        ctrl.stop()
        server.stop()
    if args.tool == "callgrind":
        dumps = sorted(p for p in glob.glob(out + ".*") if re.search(r"\.\d+\.\d+$", p))
        if not dumps:
            raise SystemExit(f"no callgrind dump in {work}")
        self_cost, aead, rsa_calls, rsa_inclusive, called_by_crypto = parse_callgrind(dumps[0])
        result.update(kernel=0, rsa_calls=rsa_calls, rsa_inclusive=rsa_inclusive, called_by_crypto=called_by_crypto,
                      dump=dumps[0])
    else:
        self_cost, aead, kernel = parse_perf(out + ".perf")
        result.update(kernel=sum(kernel.values()), kernel_symbols=kernel, rsa_calls=None, rsa_inclusive=None, called_by_crypto=None, dump=out + ".perf")
    result.update(self_cost=self_cost, aead=aead, work=work)
    return result


def report(r, args):
    n = args.sealed_secrets
    unit = "Ir (instructions)" if args.tool == "callgrind" else "cpu-clock samples"
    cats = categorise(r["self_cost"], r["aead"], r["called_by_crypto"], r["kernel"])
    total = sum(cats.values())
    print(f"\nsealed-secrets-controller, {args.phase} phase, {n} SealedSecrets x {args.items} items, {args.keys} key(s), "
          f"{args.tool}; {h.lscpu_model()}; load average {os.getloadavg()[0]:.2f}")
    print(f"{total:,} {unit} in the phase, {total / n:,.0f} per object; process CPU over the phase "
          f"{r['cpu_s']:.2f} s{' (under valgrind)' if args.tool == 'callgrind' else ''}")
    if r["rsa_calls"] is not None:
        print(f"RSA decryptions (calls of {RSA_CALL}): {r['rsa_calls']} = {r['rsa_calls'] / n:.3f} per object "
              f"({args.items} items per object)")
    if r["rsa_inclusive"] is not None:
        by_symbol = sum(c for s, c in r["self_cost"].items() if AWS_LC.search(s)) + sum(r["called_by_crypto"].values())
        print(f"check: AWS-LC by symbol, with what it calls outside, {by_symbol:,} Ir; {RSA_CALL} and the AEAD "
              f"calls with their callees {r['rsa_inclusive'] + r['aead']:,} Ir")
    if args.tool == "perf":  # one sample per 1/frequency s of CPU
        per_object, per_label = (lambda cost: f"{1000 * cost / args.frequency / n:.3f}"), "CPU ms per object"
    else:
        per_object, per_label = (lambda cost: f"{cost / n:,.0f}"), "Ir per object"
    not_rsa = total - cats[RSA_CATEGORY]
    rows = [[name, f"{cost:,}", f"{100 * cost / total:.2f}%",
             "" if name == RSA_CATEGORY else f"{100 * cost / not_rsa:.1f}%", per_object(cost)]
            for name, cost in sorted(cats.items(), key=lambda kv: -kv[1])]
    h.print_table(["category", unit, "share", "share of all but RSA", per_label], rows)
    print(f"\ntop {args.top} functions by their own cost:")
    for sym, cost in r["self_cost"].most_common(args.top):
        print(f"  {100 * cost / total:5.1f}%  {sym[:150]}")
    if r.get("kernel_symbols"):
        print("\ntop kernel functions:")
        for sym, cost in r["kernel_symbols"].most_common(8):
            print(f"  {100 * cost / total:5.1f}%  {sym[:150]}")
    rules = [re.compile(rx) for _, rx in RULES]
    rest = collections.Counter({s: c for s, c in r["self_cost"].items()
                                if not AWS_LC.search(s) and not any(rx.search(s) for rx in rules)})
    print("\ntop of the rest:")
    for sym, cost in rest.most_common(8):
        print(f"  {100 * cost / total:5.1f}%  {sym[:150]}")
    print(f"\n(raw profile kept in {r['work']})" if args.keep else "")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tool", choices=["callgrind", "perf"], default="callgrind")
    p.add_argument("--phase", choices=["cold", "steady"], default="cold")
    p.add_argument("--sealed-secrets", type=int, default=300, metavar="N")
    p.add_argument("--items", type=int, default=3)
    p.add_argument("--keys", type=int, default=1, help="1 to 12 (A, the oldest, opens every object)")
    p.add_argument("--frequency", type=int, default=999, help="perf samples per second")
    p.add_argument("--controller", help="controller binary (default: target/release/sealed-secrets-controller)")
    p.add_argument("--timeout", type=float, default=3600.0)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--keep", action="store_true", help="keep the work directory (profile, logs)")
    args = p.parse_args()
    r = run(args)
    report(r, args)
    if not args.keep:
        shutil.rmtree(r["work"], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
