#!/usr/bin/env python3
"""What /v1/verify costs with garbage and with valid input, and how much a flood of
verify requests delays unsealing.

Runs the release sealed-secrets-controller (or --binary, and --before for a second
binary to compare, e.g. one built from an older commit) against bench/fake_apiserver.py
with upstream's RSA-4096 fixture keys A and B (A newest) and N SealedSecrets (default
100, 3 items each) sealed with A. The rate limit is off (--rate-limit 0), as if every
request came from another client. For each binary:

  requests  single POST /v1/verify requests, one at a time (median of --repeat):
              small    a 3-item SealedSecret sealed with A
              garbage  a 2 MiB body of about 2,900 values shaped like RSA-4096 ones
                       (right length, random bytes) that open with no key
              valid    a 2 MiB body of about 2,900 values sealed with B (kubeseal):
                       A fails once, then B opens each value
            with the RSA decryptions each made, from the controller's
            sealed_secrets_controller_rsa_decryptions_total{origin="http"} (binaries that
            lack the metric show "-")
  unseal    every SealedSecret's generation is bumped (POST /_bench/touch) and the time
            until all are Synced again is measured: quiet, then while --clients threads
            POST garbage bodies as fast as they are answered, then valid bodies.

  python3 bench/verify_flood.py                        # build, then this tree only
  python3 bench/verify_flood.py --before /tmp/old/sealed-secrets-controller

Standard library only.
"""

import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

API_LINE = re.compile(r"HTTP server serving\S*\s.*?addr=\"?([0-9.:\[\]]+)")
RSA_HTTP = 'sealed_secrets_controller_rsa_decryptions_total{origin="http"}'
BODY_LIMIT = 2 * 1024 * 1024


def sealed_object(name, encrypted):
    return {
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"encryptedData": encrypted, "template": {"metadata": {"name": name, "namespace": "ns"}}},
    }


def garbage_body():
    """About 2 MiB of values with a 512-byte RSA part (tried with every 4096-bit key)."""
    encrypted, size, i = {}, 1000, 0
    while size + 800 < BODY_LIMIT:
        raw = (512).to_bytes(2, "big") + os.urandom(512 + 16)
        value = base64.b64encode(raw).decode()
        encrypted[f"g{i:05d}"] = value
        size += len(value) + 12
        i += 1
    body = json.dumps(sealed_object("junk", encrypted)).encode()
    # Separators and quotes were not counted above: drop values until it fits.
    while len(body) > BODY_LIMIT:
        encrypted.popitem()
        body = json.dumps(sealed_object("junk", encrypted)).encode()
    return body, len(encrypted)


def sealed_body(kubeseal, cert, name, count, value_len):
    """A SealedSecret ns/NAME of COUNT values sealed to CERT by kubeseal."""
    data = {f"k{i:05d}": base64.b64encode(os.urandom(value_len)).decode() for i in range(count)}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "ns"}, "data": data}
    out = subprocess.run([kubeseal, "--cert", cert, "-o", "json"], input=json.dumps(secret).encode(),
                         capture_output=True, check=True)
    return out.stdout


def valid_body(kubeseal, cert):
    """The largest body under 2 MiB of 1-byte values sealed to CERT (about 2,900)."""
    count = 2950
    while True:
        body = sealed_body(kubeseal, cert, "big", count, 1)
        if len(body) <= BODY_LIMIT:
            return body, count
        count -= 50


def api_url(ctrl):
    with open(ctrl.log_path, errors="replace") as f:
        for line in f:
            m = API_LINE.search(h.ANSI.sub("", line))
            if m:
                return f"http://{m.group(1)}"
    return None


def verify(url, body, timeout=600):
    req = urllib.request.Request(url + "/v1/verify", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code


class Flood:
    """CLIENTS threads posting BODY until stopped."""

    def __init__(self, url, body, clients):
        self.stop_flag = threading.Event()
        self.answered = 0
        self.codes = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(url, body), daemon=True) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self, url, body):
        while not self.stop_flag.is_set():
            try:
                code = verify(url, body)
            except OSError as e:
                code = type(e).__name__
            with self.lock:
                self.answered += 1
                self.codes[code] = self.codes.get(code, 0) + 1

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def run_binary(label, binary, args, bodies):
    work = h.workdir("verify-flood-")
    server = h.FakeServer(work, ["--key", "A", "--key", "B", "--sealed-secrets", str(args.sealed_secrets),
                                 "--items", str(args.items), "--seal-cert", os.path.join(h.KEYS_DIR, "A.tls.crt"),
                                 "--namespaces", "1"])
    kubeconfig = h.write_kubeconfig(os.path.join(work, "kubeconfig"), server.url)
    ctrl = h.Controller(work, h.controller_cmd(binary, kubeconfig, extra=["--rate-limit", "0"]))
    n = args.sealed_secrets
    result = {"label": label, "binary": binary, "requests": {}, "unseal": {}}
    try:
        h.wait_for(lambda: server.stats()["synced"] >= n, args.timeout, what=f"{n} synced", proc=ctrl)
        url = h.wait_for(lambda: api_url(ctrl), 10, what="the API address", proc=ctrl)
        metrics = h.wait_for(ctrl.metrics_url, 10, what="the metrics address", proc=ctrl)

        for name, body in bodies:
            times, rsa, codes = [], [], set()
            for _ in range(args.repeat):
                before = h.scrape(metrics).get(RSA_HTTP)
                t0 = time.monotonic()
                codes.add(verify(url, body))
                times.append(time.monotonic() - t0)
                after = h.scrape(metrics).get(RSA_HTTP)
                if before is not None or after is not None:
                    rsa.append((after or 0) - (before or 0))
            result["requests"][name] = {"s": statistics.median(times), "codes": sorted(map(str, codes)),
                                        "rsa": statistics.median(rsa) if rsa else None}
            print(f"  {label} verify {name}: {statistics.median(times) * 1000:.1f} ms, codes {sorted(codes)}, "
                  f"RSA {result['requests'][name]['rsa']}", file=sys.stderr, flush=True)

        def resync():
            t0 = time.monotonic()
            server.post("touch")  # every generation bumped: none is synced for it now
            h.wait_for(lambda: server.stats()["synced"] >= n, args.timeout, interval=0.02,
                       check_interval=0.05, what=f"{n} synced again", proc=ctrl)
            return time.monotonic() - t0

        floods = [("quiet", None)] + [(f"flood of {name}", body) for name, body in bodies if name != "small"]
        for name, body in floods:
            flood = Flood(url, body, args.clients) if body else None
            if flood:
                time.sleep(2.0)  # the pool is full
            cpu0 = ctrl.cpu_s()
            walls = [resync() for _ in range(args.touches)]
            cpu = ctrl.cpu_s() - cpu0
            answered = 0
            if flood:
                flood.stop()
                answered = flood.answered
            result["unseal"][name] = {"wall": statistics.median(walls), "walls": walls, "cpu": cpu,
                                      "answered": answered, "codes": flood.codes if flood else {}}
            print(f"  {label} unseal {name}: {[round(w, 2) for w in walls]} s, {answered} requests answered",
                  file=sys.stderr, flush=True)
    finally:
        result["exit"] = ctrl.stop()
        server.stop()
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", help="controller under test (default: the release build of this tree)")
    p.add_argument("--before", help="a second controller binary to compare with")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--sealed-secrets", type=int, default=100)
    p.add_argument("--items", type=int, default=3)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--touches", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()
    if not args.no_build:
        h.build(["sealed-controller", "sealed-cli"])
    kubeseal = h.release_binary("kubeseal")
    binary = args.binary or h.release_binary("sealed-secrets-controller")
    cert_b = os.path.join(h.KEYS_DIR, "B.tls.crt")
    small = sealed_body(kubeseal, os.path.join(h.KEYS_DIR, "A.tls.crt"), "app", 3, 16)
    garbage, garbage_n = garbage_body()
    valid, valid_n = valid_body(kubeseal, cert_b)
    bodies = [("small", small), ("garbage", garbage), ("valid", valid)]
    print(f"bodies: small {len(small)} B; garbage {len(garbage)} B, {garbage_n} values; "
          f"valid {len(valid)} B, {valid_n} values", file=sys.stderr)
    runs = [("after", binary)] + ([("before", args.before)] if args.before else [])
    results = [run_binary(label, b, args, bodies) for label, b in runs]

    print()
    print(f"/v1/verify and unsealing under a flood: {h.lscpu_model()}; {os.cpu_count()} CPUs; "
          f"{args.sealed_secrets} SealedSecrets x {args.items} items; {args.clients} flooding clients")
    rows = []
    for r in results:
        for name, q in r["requests"].items():
            rows.append([r["label"], name, f"{q['s'] * 1000:.1f}", ",".join(q["codes"]),
                         "-" if q["rsa"] is None else f"{q['rsa']:.0f}"])
    h.print_table(["binary", "verify body", "ms per request", "status", "RSA decryptions"], rows)
    print()
    rows = []
    for r in results:
        quiet = r["unseal"]["quiet"]["wall"]
        for name, u in r["unseal"].items():
            rows.append([r["label"], name, f"{u['wall']:.2f}", f"{u['wall'] / quiet:.2f}x", f"{u['cpu']:.1f}",
                         str(u["answered"]) if name != "quiet" else "-"])
    h.print_table(["binary", "phase", f"resync {args.sealed_secrets} objects (s, median)", "vs quiet",
                   "controller CPU s", "verify requests answered"], rows)
    for r in results:
        print(f"{r['label']}: exit status {r['exit']}; flood answers "
              + "; ".join(f"{n}: {u['codes']}" for n, u in r["unseal"].items() if u["codes"]))
    print(json.dumps(results, indent=1), file=open(os.path.join(h.target_dir(), "verify_flood.json"), "w"))


if __name__ == "__main__":
    main()
