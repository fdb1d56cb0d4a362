"""Benchmark endpoints (not Kubernetes) and start-up preloading.

  GET  /_bench/stats    counters (Secrets created by the controller, status patches,
                        SealedSecrets synced for their current generation, requests per
                        route, unknown requests, faults answered) and the active faults,
                        as JSON
  POST /_bench/release  adds the SealedSecrets held back by --defer-sealed (ADDED events)
  POST /_bench/touch    bumps every SealedSecret's generation (MODIFIED events), as a
                        spec change would: the controller reconciles each once more
  POST /_bench/compact  ends every watch; resuming from an old resourceVersion gets
                        410 Gone, so clients must list again
  POST /_bench/reset    zeroes the counters

Preloading: the namespaces kube-system, kube-public, kube-node-lease, default, the home
namespace and those the objects go to; the fixture key A (or any key pairs) as key
Secrets in the home namespace; N SealedSecrets sealed to the first key's certificate
with our `kubeseal` binary (so they really decrypt); M unrelated ~1 KiB Secrets.
"""

import base64
import json
import os
import random
import string
import subprocess
import sys
import time

from .resources import NAMESPACES, SEALED_SECRETS, SECRETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS_DIR = os.path.join(ROOT, "testdata/vectors/kubeseal-0.36.6/keys")
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
SYSTEM_NAMESPACES = ["default", "kube-node-lease", "kube-public", "kube-system"]


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def handle(store, method, what):
    """/_bench/WHAT -> (code, JSON answer), or None for an unknown one."""
    if what == "stats" and method == "GET":
        return 200, store.stats()
    if method != "POST":
        return None
    if what == "release":
        return 200, {"released": store.release()}
    if what == "touch":
        return 200, {"touched": store.bump_generations()}
    if what == "compact":
        return 200, {"log_start": store.compact()}
    if what == "reset":
        with store.cond:
            store.counters = {}
        return 200, {}
    return None


# ---------------------------------------------------------------- preloading


def key_secret(name, namespace, cert_pem, key_pem):
    b64 = lambda b: base64.b64encode(b).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": namespace, "labels": {KEY_LABEL: "active"}},
        "data": {"tls.crt": b64(cert_pem), "tls.key": b64(key_pem)},
    }


def parse_key_arg(text):
    """NAME=DIR (with tls.crt and tls.key), or a fixture letter A/B."""
    if text in ("A", "B"):
        return (f"sealed-secrets-key{text.lower()}xxxx", os.path.join(KEYS_DIR, f"{text}.tls.crt"),
                os.path.join(KEYS_DIR, f"{text}.tls.key"))
    name, _, directory = text.partition("=")
    if not directory:
        raise SystemExit(f"--key {text!r}: expected A, B or NAME=DIR")
    return name, os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")


def plain_secret(name, namespace, items):
    rnd = random.Random(f"{namespace}/{name}")
    data = {"username": f"user-{name}".encode(), "password": "".join(rnd.choices(string.ascii_letters, k=24)).encode(),
            "config.yaml": ("host: db.example.com\nport: 5432\nsslmode: verify-full\n" * 4)[:200].encode()}
    for i in range(3, items):
        data[f"item-{i}"] = rnd.randbytes(32).hex().encode()
    keys = list(data)[:items]
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: base64.b64encode(data[k]).decode() for k in keys}}


def decode_stream(text):
    dec, pos, out = json.JSONDecoder(), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        obj, pos = dec.raw_decode(text, pos)
        out.append(obj)


def seal_all(kubeseal, cert, secrets):
    """Seals Secrets with one kubeseal process (concatenated JSON in, JSON out)."""
    stdin = "".join(json.dumps(s) + "\n" for s in secrets).encode()
    out = subprocess.run([kubeseal, "--cert", cert, "-o", "json"], input=stdin, capture_output=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"kubeseal failed ({out.returncode}): {out.stderr.decode(errors='replace')}")
    sealed = decode_stream(out.stdout.decode())
    if len(sealed) == 1 and sealed[0].get("kind", "").endswith("List"):
        sealed = sealed[0]["items"]
    if len(sealed) != len(secrets):
        raise SystemExit(f"kubeseal returned {len(sealed)} objects for {len(secrets)} Secrets")
    return sealed


def preload(store, args):
    home = args.home
    namespaces = [f"{args.namespace_prefix}{i}" for i in range(args.namespaces)]
    used = namespaces if (args.sealed_secrets or args.secrets) else []
    for ns in sorted(set(used + [home] + SYSTEM_NAMESPACES)):
        store.create(NAMESPACES, None, {"metadata": {"name": ns}}, notify=False)
    keys = [] if args.no_keys else [parse_key_arg(k) for k in (args.key or ["A"])]
    for name, crt, key in keys:
        with open(crt, "rb") as f1, open(key, "rb") as f2:
            store.create(SECRETS, home, key_secret(name, home, f1.read(), f2.read()), notify=False)
    if args.sealed_secrets:
        kubeseal = args.kubeseal or os.path.join(target_dir(), "release", "kubeseal")
        if not (args.seal_cert or keys):
            raise SystemExit("--sealed-secrets needs a key (--key) or --seal-cert")
        cert = args.seal_cert or keys[0][1]
        plain = [plain_secret(f"sealed-{i:05d}", namespaces[i % len(namespaces)], args.items)
                 for i in range(args.sealed_secrets)]
        t0 = time.perf_counter()
        sealed = seal_all(kubeseal, cert, plain)
        print(f"sealed {len(sealed)} Secrets with {kubeseal} in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
        for obj in sealed:
            obj.pop("status", None)
            if args.defer_sealed:
                store.deferred.append(obj)
            else:
                store.create(SEALED_SECRETS, obj["metadata"]["namespace"], obj, notify=False)
    filler = base64.b64encode(os.urandom(768)).decode()  # 1 KiB of base64
    for i in range(args.secrets):
        ns = namespaces[i % len(namespaces)]
        store.create(SECRETS, ns, {
            "type": "Opaque",
            "metadata": {"name": f"unrelated-{i:06d}", "namespace": ns, "labels": {"app": f"app-{i % 100}"}},
            "data": {"blob": filler[:-8] + f"{i:08d}"},
        }, notify=False)
