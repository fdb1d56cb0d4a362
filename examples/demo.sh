#!/usr/bin/env bash
# The main job on bundled files, no cluster needed: seal examples/secret.yaml with the
# example certificate, then open the result again with the example private key.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p sealed-cli
kubeseal=target/release/kubeseal
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== kubeseal --cert examples/cert.pem -o yaml < examples/secret.yaml"
"$kubeseal" --cert examples/cert.pem -o yaml < examples/secret.yaml | tee "$out/sealed.yaml"

echo
echo "== kubeseal --recovery-unseal --recovery-private-key examples/key.pem -o yaml < sealed.yaml"
"$kubeseal" --recovery-unseal --recovery-private-key examples/key.pem -o yaml < "$out/sealed.yaml" | tee "$out/opened.yaml"

# The password went in as stringData; it must come back as the same bytes.
grep -q "password: $(printf %s correct-horse-battery-staple | base64 -w0)" "$out/opened.yaml"
echo
echo "OK: sealed and opened again; the values round-tripped."
