#!/usr/bin/env python3
"""Validates the hooks in a `sluice render` output stream (stdin: JSON documents separated by `---`).

    validate_hooks.py VELERO_SCHEMA KUBE_VERSION...

Every document carrying `argocd.argoproj.io/hook` is checked: a velero.io/v1 Backup against the JSON schema
file VELERO_SCHEMA (python jsonschema), everything else against the Kubernetes schemas of each KUBE_VERSION
(python kubernetes-validate, strict: unknown fields are errors). Prints one line per hook checked and one per
error; exits 1 on any error, 2 when the stream holds no hook at all (a test that checks nothing must fail).
"""

import json
import sys

import jsonschema
import kubernetes_validate


def documents(text):
    for chunk in text.split("\n---\n"):
        chunk = chunk.strip().removeprefix("---").strip()
        if chunk:
            yield json.loads(chunk)


def minor_version(version):
    """`1.31.4` or `v1.31` -> `1.31.0`: the schemas are per minor version."""
    parts = version.lstrip("v").split(".")
    return f"{parts[0]}.{parts[1]}.0"


def main():
    schema_path, versions = sys.argv[1], [minor_version(v) for v in sys.argv[2:]]
    with open(schema_path, encoding="utf-8") as f:
        velero = jsonschema.Draft202012Validator(json.load(f))
    errors = 0
    hooks = 0
    for doc in documents(sys.stdin.read()):
        annotations = doc.get("metadata", {}).get("annotations", {})
        if "argocd.argoproj.io/hook" not in annotations:
            continue
        hooks += 1
        meta = doc.get("metadata", {})
        what = f"{doc.get('kind')}/{meta.get('name') or meta.get('generateName')}"
        if doc.get("apiVersion") == "velero.io/v1":
            problems = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in velero.iter_errors(doc)]
            checked = "velero CRD schema"
        else:
            problems = []
            for version in versions:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    problems.append(f"kubernetes {version}: {'.'.join(map(str, e.path))}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError as e:
                    problems.append(f"kubernetes {version}: no schema: {e}")
            checked = "kubernetes " + ", ".join(versions)
        for p in problems:
            print(f"ERROR {what}: {p}")
        errors += len(problems)
        print(f"checked {what} against {checked}")
    if hooks == 0:
        print("ERROR: no hooks in the stream")
        sys.exit(2)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
