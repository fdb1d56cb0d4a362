#!/usr/bin/env python3
"""Writes the multi-recipient vectors of this folder with Python's `cryptography`, an
implementation independent of ours, from the byte layout in docs/design.md
("Several recipients"). Run from anywhere: python3 testdata/multi-recipient/make.py.
The keys C, D and E were made with `openssl genrsa -traditional 2048` and
`openssl req -x509 -new -days 36500`; A is upstream's fixture key (testdata/vectors).
"""
import base64
import hashlib
import json
import os
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
UPSTREAM_KEYS = os.path.join(HERE, "..", "vectors", "kubeseal-0.36.6", "keys")


def cert(name):
    folder = UPSTREAM_KEYS if name in ("A", "B") else HERE
    with open(os.path.join(folder, f"{name}.tls.crt"), "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def key_id(public_key):
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


def seal(recipients, plaintext, label):
    session_key = os.urandom(32)
    out = bytearray(b"\x00\x00\x01" + bytes([len(recipients)]))
    for name in recipients:
        public_key = cert(name).public_key()
        wrapped = public_key.encrypt(
            session_key,
            padding.OAEP(
                mgf=padding.MGF1(algorithm=hashes.SHA256()),
                algorithm=hashes.SHA256(),
                label=label,
            ),
        )
        out += key_id(public_key) + struct.pack(">H", len(wrapped)) + wrapped
    out += AESGCM(session_key).encrypt(b"\x00" * 12, plaintext, None)
    return base64.b64encode(bytes(out)).decode()


def vector(folder, namespace, name, scope, label, recipients, items):
    path = os.path.join(HERE, folder)
    os.makedirs(path, exist_ok=True)
    annotations = {
        "strict": "",
        "namespace-wide": '    sealedsecrets.bitnami.com/namespace-wide: "true"\n',
        "cluster-wide": '    sealedsecrets.bitnami.com/cluster-wide: "true"\n',
    }[scope]
    lines = [
        "apiVersion: bitnami.com/v1alpha1",
        "kind: SealedSecret",
        "metadata:",
    ]
    if annotations:
        lines.append("  annotations:")
        lines.append(annotations.rstrip("\n"))
    lines += [f"  name: {name}", f"  namespace: {namespace}", "spec:", "  encryptedData:"]
    for item, value in sorted(items.items()):
        lines.append(f"    {item}: {seal(recipients, value, label)}")
    lines += ["  template:", "    metadata:"]
    if annotations:
        lines.append("      annotations:")
        lines.append("    " + annotations.rstrip("\n"))
    lines += [f"      name: {name}", f"      namespace: {namespace}", "    type: Opaque", ""]
    with open(os.path.join(path, "sealed.yaml"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(path, "vector.json"), "w") as f:
        json.dump(
            {
                "name": name,
                "namespace": namespace,
                "scope": scope,
                "label": label.decode(),
                "recipients": recipients,
                "recipient_key_ids_hex": [key_id(cert(r).public_key()).hex() for r in recipients],
                "expected_plaintext_b64": {
                    k: base64.b64encode(v).decode() for k, v in sorted(items.items())
                },
            },
            f,
            indent=2,
            sort_keys=True,
        )
        f.write("\n")


vector(
    "strict",
    "prod",
    "db",
    "strict",
    b"prod/db",
    ["A", "C", "D"],
    {"password": b"s3cr3t", "binary": bytes(range(256)), "empty": b""},
)
vector(
    "namespace-wide",
    "staging",
    "api",
    "namespace-wide",
    b"staging",
    ["C", "E"],
    {"token": b"t0k3n"},
)
