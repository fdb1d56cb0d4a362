#!/usr/bin/env python3
"""Independent check of kubeseal's output: opens SealedSecrets with Python's
`cryptography` package (OpenSSL underneath), sharing no code with this project.

usage: open_with_python.py PRIVATE_KEY_PEM < sealed.(yaml|json)
Prints one line per item: "<namespace>/<name> <item> <base64 of plaintext>".
Only JSON input is parsed (use `kubeseal -o json`).
"""
import base64
import json
import struct
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def label_for(meta):
    annotations = meta.get("annotations") or {}
    ns, name = meta.get("namespace", ""), meta.get("name", "")
    if annotations.get("sealedsecrets.bitnami.com/cluster-wide") == "true":
        return b""
    if annotations.get("sealedsecrets.bitnami.com/namespace-wide") == "true":
        return ns.encode()
    return f"{ns}/{name}".encode()


def open_value(key, blob, label):
    (rsa_len,) = struct.unpack(">H", blob[:2])
    rsa_part, aes_part = blob[2 : 2 + rsa_len], blob[2 + rsa_len :]
    session = key.decrypt(
        rsa_part,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None),
    )
    return AESGCM(session).decrypt(b"\0" * 12, aes_part, None)


def main():
    key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
    decoder = json.JSONDecoder()
    text, pos = sys.stdin.read(), 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        doc, pos = decoder.raw_decode(text, pos)
        meta = doc["metadata"]
        label = label_for(meta)
        for item, value in sorted(doc["spec"]["encryptedData"].items()):
            plain = open_value(key, base64.b64decode(value), label)
            print(f"{meta.get('namespace', '')}/{meta['name']} {item} {base64.b64encode(plain).decode()}")


if __name__ == "__main__":
    main()
