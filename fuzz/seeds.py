#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/ (the `seed-*` files).

The sealed values are made to fuzz/fixtures/tls.key with Python's `cryptography`,
an implementation independent of ours: RSA-OAEP(SHA-256, label) of a fresh AES-256
key, then AES-256-GCM with a zero nonce, behind a big-endian u16 length prefix.
Run from anywhere: python3 fuzz/seeds.py
"""

import base64
import json
import os
import pathlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
CORPUS = FUZZ / "corpus"
KEY_PEM = (FUZZ / "fixtures/tls.key").read_bytes()
CERT_PEM = (FUZZ / "fixtures/tls.crt").read_bytes()
KEY = serialization.load_pem_private_key(KEY_PEM, None)


def seal(plain: bytes, label: bytes) -> bytes:
    session = os.urandom(32)
    rsa = KEY.public_key().encrypt(
        session,
        padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), label),
    )
    aes = AESGCM(session).encrypt(b"\0" * 12, plain, None)
    return len(rsa).to_bytes(2, "big") + rsa + aes


def seal64(plain: bytes, label: bytes) -> str:
    return base64.b64encode(seal(plain, label)).decode()


def write(target: str, name: str, data) -> None:
    if isinstance(data, str):
        data = data.encode()
    path = CORPUS / target / f"seed-{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def sealed_secret(name, namespace, items, template=None, annotations=None, legacy=None):
    label = f"{namespace}/{name}".encode()
    spec = {"encryptedData": {k: seal64(v, label) for k, v in items.items()}}
    if template is not None:
        spec["template"] = template
    if legacy is not None:
        spec = {"data": legacy}
        if template is not None:
            spec["template"] = template
    meta = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": meta, "spec": spec}


def main() -> None:
    # sealed_blob: the binary value, its base64 text (label "fuzz"), broken prefixes.
    write("sealed_blob", "valid", seal(b"hello", b""))
    write("sealed_blob", "valid-empty-plaintext", seal(b"", b""))
    write("sealed_blob", "base64-label-fuzz", seal64(b"world", b"fuzz"))
    write("sealed_blob", "base64-with-newlines",
          "\n".join(seal64(b"x" * 40, b"fuzz")[i:i + 64] for i in range(0, 400, 64)))
    write("sealed_blob", "truncated-rsa", seal(b"hello", b"")[:100])
    write("sealed_blob", "tag-cut", seal(b"hello", b"")[:-3])
    write("sealed_blob", "prefix-only", b"\x01\x00")
    write("sealed_blob", "one-byte", b"\x02")

    # pem_keys: keys and certificates in every form the tools read.
    der_key = KEY.private_bytes(serialization.Encoding.DER,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    pkcs8 = KEY.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())
    cert_der = base64.b64decode(b"".join(CERT_PEM.splitlines()[1:-1]))
    write("pem_keys", "pkcs1", KEY_PEM)
    write("pem_keys", "pkcs8", pkcs8)
    write("pem_keys", "pkcs8.der", der_key)
    write("pem_keys", "cert", CERT_PEM)
    write("pem_keys", "cert.der", cert_der)
    write("pem_keys", "cert-then-key", CERT_PEM + KEY_PEM)
    write("pem_keys", "ec-key", ec_key)
    write("pem_keys", "encrypted-header",
          b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")
    key_secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": "sealed-secrets-keyfuzz", "namespace": "kube-system",
                     "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
        "data": {"tls.crt": base64.b64encode(CERT_PEM).decode(),
                 "tls.key": base64.b64encode(KEY_PEM).decode()},
    }
    write("pem_keys", "key-secret.json", json.dumps(key_secret, indent=2))
    write("pem_keys", "key-list.json",
          json.dumps({"apiVersion": "v1", "kind": "List", "items": [key_secret]}))
    yaml_secret = "\n".join([
        "apiVersion: v1", "kind: Secret", "type: kubernetes.io/tls",
        "metadata: {name: k, namespace: kube-system}", "data:",
        f"  tls.key: {base64.b64encode(KEY_PEM).decode()}",
        f"  tls.crt: {base64.b64encode(CERT_PEM).decode()}", ""])
    write("pem_keys", "key-secret.yaml", yaml_secret)

    # decode: Secrets as users write them, streams, YAML oddities.
    vectors = ROOT / "testdata/vectors/kubeseal-0.36.6"
    write("decode", "stringdata-and-metadata.yaml",
          (vectors / "stringdata-and-metadata/strict/secret.yaml").read_bytes())
    write("decode", "cluster-wide.yaml",
          (vectors / "scope-annotation/cluster-wide/secret.yaml").read_bytes())
    write("decode", "stream.yaml",
          "---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData: {x: 'no', y: 0777}\n"
          "---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b, namespace: n}\n"
          "data: {z: \"aGVs\\nbG8=\"}\n")
    write("decode", "stream.json",
          '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a"},"data":{"k":"dg=="}}\n'
          '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"},"stringData":{"k":"\\u2028<&>"}}')
    write("decode", "anchors.yaml",
          "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\nkind: Secret\napiVersion: v1\n")
    write("decode", "bom-flow.yaml",
          "\ufeff{kind: Secret, apiVersion: v1, metadata: {name: m}, stringData: {'on': yes}}\n")
    write("decode", "sealed.yaml",
          (vectors / "template-data/strict/sealed.yaml").read_bytes())
    write("decode", "wrong-kind.yaml", "apiVersion: v1\nkind: ConfigMap\ndata: {a: b}\n")

    # unseal: SealedSecrets sealed to the fixture key, with templates.
    items = {"a": b"from-data", "b": b"from-stringData", "bin": b"\xff\x00\xfe"}
    template = {
        "metadata": {"labels": {"app": "demo"}, "annotations": {"note": "kept"}},
        "type": "Opaque",
        "data": {
            "combined": "{{ .a }}:{{ .b | upper }}",
            "camel": '{{ "hello_world-foo" | camelcase }}',
            "literal": "no template actions",
            "json": '{{ dict "a" .a "n" (len .bin) | toJson }}',
            "range": '{{ range $k, $v := . }}{{ $k }}={{ $v | b64enc }};{{ end }}',
            "removed": None,
        },
    }
    docs = [
        sealed_secret("demo", "ns", items, template),
        sealed_secret("one", "ns", {"a": b"x"},
                      {"data": {"h": "{{ htpasswd \"u\" .a | len }}",
                                "bad": "{{ .a | nosuchfunc }}"}}),
        sealed_secret("wrong-label", "other", {"a": b"x"}),
    ]
    docs[2]["metadata"]["name"] = "renamed"
    write("unseal", "templates.json", json.dumps(docs[0], indent=2))
    write("unseal", "htpasswd-and-bad-func.json", json.dumps(docs[1]))
    write("unseal", "wrong-label.json", json.dumps(docs[2]))
    cluster = sealed_secret("cw", "", {"k": b"v"})
    cluster["metadata"]["annotations"] = {"sealedsecrets.bitnami.com/cluster-wide": "true"}
    cluster["spec"]["encryptedData"] = {"k": seal64(b"v", b"")}
    write("unseal", "cluster-wide.json", json.dumps(cluster))
    legacy_secret = json.dumps({"apiVersion": "v1", "kind": "Secret",
                                "metadata": {"name": "old"}, "data": {"k": "dg=="}})
    legacy = sealed_secret("old", "ns", {}, legacy=seal64(legacy_secret.encode(), b"ns/old"))
    write("unseal", "legacy-v1-data.json", json.dumps(legacy))

    # template: Go text/template + Sprig, with items a, n, bin and (after NUL) x.
    templates = {
        "pipeline": '{{ .a | upper | replace "-" "_" | quote }}',
        "range-else": "{{ range $i, $e := list 1 2 3 }}{{ $i }}{{ else }}none{{ end }}",
        "define": '{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" .a }}',
        "recursion": '{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}',
        "printf": '{{ printf "%q %05.2f %x %v" .a 3.14159 255 (list 1 "b") }}',
        "vars-break": "{{ $x := 0 }}{{ range until 10 }}{{ if eq . 5 }}{{ break }}{{ end }}{{ $x = add $x . }}{{ end }}{{ $x }}",
        "regex": '{{ regexReplaceAll "(a+)" .a "<$1>" }}{{ regexMatch "^[a-z]+$" .x }}',
        "crypto": "{{ .a | sha256sum }} {{ .bin | b64enc }} {{ .a | b64enc | b64dec }}",
        "bcrypt": "{{ bcrypt .a | len }}",
        "dict": '{{ $d := dict "k" .a }}{{ $_ := set $d "n" (atoi .n) }}{{ toJson $d }}',
        "strings": '{{ repeat 3 .n }}{{ trunc 4 .a }}{{ .a | split "-" | toString }}{{ nospace " a b " }}',
        "numbers": "{{ add1 .n }} {{ mul 6 7 }} {{ div 7 0 }}",
        "slice-index": "{{ slice .a 1 3 }}{{ index .a 0 }}{{ len .bin }}",
        "comments-trim": "{{- /* c */ -}} {{ 1 }} {{- 2 -}}",
        "missing-key": "{{ .nope }}{{ .a.b }}",
        "unterminated": "{{ if .a }}",
        "fail-literal": '{{ fail "stop here" }}',
        "with-x": "{{ with .x }}{{ . | trim | lower }}{{ end }}\0  Mixed Case X  ",
        "semver-date": '{{ semverCompare ">=1.2" "1.3.0" }} {{ "2024-01-02" | toDate "2006-01-02" | date "Jan 2" }}',
    }
    for name, text in templates.items():
        write("template", name, text)


if __name__ == "__main__":
    main()
