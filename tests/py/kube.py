"""Kubernetes' reading of YAML, for the integration tests (tests/it/install.rs).

    python3 tests/py/kube.py load            < multi-doc YAML   -> JSON list of the documents (YAML 1.1 rules)
    python3 tests/py/kube.py split           < plugin stdout    -> JSON list, as Argo CD's kube.SplitYAMLToString
    python3 tests/py/kube.py validate 1.34   < JSON list        -> JSON report; exit 1 when an object is invalid

PyYAML reads YAML 1.1 scalars as sigs.k8s.io/yaml does (0644 is 420, `yes` is true). `validate` checks every
object against the Kubernetes JSON schemas of kubernetes-validate (strict: unknown fields are errors); custom
resources are not in those schemas and are skipped, by API group, explicitly and reported as skipped.
"""

import json
import sys

import yaml

# API groups of custom resources sluice and its install kit produce or meet: no schema in kubernetes-validate.
CUSTOM_GROUPS = ("argoproj.io", "velero.io", "bitnami.com", "external-secrets.io", "sluice.io", "monitoring.coreos.com")


def load(text):
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def split(text):
    """kube.SplitYAMLToString then yaml.Unmarshal: a JSON stream when the input starts with `{`, else YAML
    documents; empty and `null` documents are dropped (k8s.io/apimachinery NewYAMLOrJSONDecoder)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        decoder = json.JSONDecoder()
        docs, pos = [], 0
        while True:
            while pos < len(stripped) and stripped[pos].isspace():
                pos += 1
            if pos == len(stripped):
                return docs
            doc, pos = decoder.raw_decode(stripped, pos)
            if doc is not None:
                docs.append(doc)
    return load(text)


def group_of(api_version):
    return api_version.split("/")[0] if "/" in api_version else ""


def validate(version, docs):
    import kubernetes_validate

    report = {"validated": [], "skipped": [], "errors": []}
    for doc in docs:
        name = "%s/%s" % (doc.get("kind"), (doc.get("metadata") or {}).get("name") or
                          (doc.get("metadata") or {}).get("generateName"))
        group = group_of(doc.get("apiVersion", ""))
        if any(group == g or group.endswith("." + g) for g in CUSTOM_GROUPS):
            report["skipped"].append("%s (custom resource, group %s)" % (name, group))
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
            report["validated"].append(name)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            report["errors"].append("%s: %s: %s" % (name, path, e.message))
        except kubernetes_validate.SchemaNotFoundError as e:
            report["errors"].append("%s: %s" % (name, e.message))
    return report


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    text = sys.stdin.read()
    if cmd == "load":
        json.dump(load(text), sys.stdout)
    elif cmd == "split":
        json.dump(split(text), sys.stdout)
    elif cmd == "validate" and len(sys.argv) == 3:
        report = validate(sys.argv[2], json.loads(text))
        json.dump(report, sys.stdout)
        sys.exit(1 if report["errors"] else 0)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
