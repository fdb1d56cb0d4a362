#!/usr/bin/env python3
"""Renders, lints or packages the chart with Helm 4's engine as a library
(PyPI helm-python-sdk, module helm_python), offline: no helm binary, no cluster.

  render.py render CHART_DIR VALUES_FILE RELEASE NAMESPACE [--json]
      the rendered objects as YAML documents (what `helm template` prints), or with
      --json one JSON list of {"source": TEMPLATE, "object": {...}}
  render.py lint CHART_DIR VALUES_FILE NAMESPACE
      the lint report as JSON; exit 1 when it holds an error or a warning
  render.py package CHART_DIR DEST_DIR
      writes DEST_DIR/sealed-secrets-VERSION.tgz and prints its path

VALUES_FILE may be "-" for the chart's defaults. Exit 3 when helm_python is missing.
"""

import json
import sys

PIN = "helm-python-sdk==0.2.2"

try:
    import helm_python
except ImportError:
    print(
        f"python3 cannot import helm_python: install it with "
        f"`python3 -m pip install {PIN}`",
        file=sys.stderr,
    )
    sys.exit(3)


def load_values(path):
    if path == "-":
        return {}
    with open(path, encoding="utf-8") as f:
        return helm_python.values_from_yaml(f.read())


def documents(manifest):
    """Splits one rendered template into its YAML documents, dropping empty ones."""
    docs, current = [], []
    for line in manifest.splitlines():
        if line.rstrip() == "---" or line.startswith("--- "):
            docs.append("\n".join(current))
            current = []
        else:
            current.append(line)
    docs.append("\n".join(current))
    meaningful = []
    for doc in docs:
        lines = [l for l in doc.splitlines() if l.strip() and not l.lstrip().startswith("#")]
        if lines:
            meaningful.append(doc.strip("\n"))
    return meaningful


def render(chart_dir, values_file, release, namespace, as_json):
    chart = helm_python.Chart.load(chart_dir)
    manifests = chart.render(
        load_values(values_file), name=release, namespace=namespace, is_install=True
    )
    out = []
    for source in sorted(manifests):
        if not source.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for doc in documents(manifests[source]):
            out.append((source, doc))
    if as_json:
        objects = [
            {"source": source, "object": helm_python.values_from_yaml(doc)}
            for source, doc in out
        ]
        json.dump(objects, sys.stdout)
        print()
    else:
        for source, doc in out:
            print(f"---\n# Source: {source}\n{doc}")


def lint(chart_dir, values_file, namespace):
    report = helm_python.lint(
        chart_dir, load_values(values_file), namespace=namespace, strict=True
    )
    json.dump(report, sys.stdout, indent=1)
    print()
    bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    return 1 if bad or report.get("errors") else 0


def main(argv):
    if len(argv) >= 6 and argv[1] == "render":
        try:
            render(argv[2], argv[3], argv[4], argv[5], "--json" in argv[6:])
        except helm_python.HelmError as e:
            print(f"render failed: {e}", file=sys.stderr)
            return 1
        return 0
    if len(argv) == 5 and argv[1] == "lint":
        return lint(argv[2], argv[3], argv[4])
    if len(argv) == 4 and argv[1] == "package":
        print(helm_python.package(argv[2], destination=argv[3]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
