#!/usr/bin/env python3
"""Checks every response an emulated Git host served against the host's published API description.

usage: validate_openapi.py [--github API.GITHUB.COM.JSON] [--gitlab GITLAB-REST.JSON]
                           [--schema NAME=FILE]... EXCHANGES.JSONL

EXCHANGES.JSONL holds one served response per line:
  {"host": "github"|"gitlab", "method": "GET", "route": "/repos/{owner}/{repo}/pulls/{pull_number}",
   "status": 200, "body": ...}

GitHub: the route's operation in GitHub's own OpenAPI description (github/rest-api-description, as
published on the npm registry in @octokit/openapi), its response for the status, `application/json`.
GitLab: tests/fixtures/host/gitlab-rest.json, the response schemas transcribed from GitLab's
openapi_v3.yaml and REST docs (its `endpoints` map a route to a schema; `x-source` names where each
came from), since GitLab publishes no description on a package registry.

--schema NAME=FILE: the responses of host NAME (servicenow, jira, jsm: the ticket systems of
tests/it/itsm) against FILE, a document of the same form as the GitLab one: `endpoints` maps
`METHOD route` to a schema (`Name` or `array of Name`), `error` names the schema of error answers,
`components.schemas` holds them (tests/fixtures/ticket, each with its `x-source`).

OpenAPI 3.0 schemas are turned into JSON Schema (draft 4) first: `nullable: true` admits null.
Formats `date-time` and `uri` are checked. Prints one line per problem and exits 1, or prints
`ok: N responses` and exits 0.
"""
import argparse
import json
import re
import sys

import jsonschema

DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def nullable_to_jsonschema(node):
    """OpenAPI 3.0's `nullable` as JSON Schema, everywhere in `node`."""
    if isinstance(node, list):
        return [nullable_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: nullable_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-") and k not in ("example", "examples", "discriminator")}
    if out.pop("nullable", False):
        if "type" in out and isinstance(out["type"], str) and not any(k in out for k in ("allOf", "oneOf", "anyOf", "$ref")):
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = out["enum"] + [None]
        else:
            return {"anyOf": [out, {"type": "null"}]}
    return out


def checker():
    fc = jsonschema.FormatChecker()

    @fc.checks("date-time")
    def date_time(value):
        return not isinstance(value, str) or bool(DATE_TIME.match(value))

    @fc.checks("uri")
    def uri(value):
        return not isinstance(value, str) or bool(re.match(r"^[a-z][a-z0-9+.-]*://", value))

    return fc


def github_schema(doc, method, route, status):
    op = doc["paths"].get(route, {}).get(method.lower())
    if op is None:
        return None, f"no operation {method} {route} in GitHub's description"
    resp = op["responses"].get(str(status))
    if resp is None and status >= 400:
        # Any error GitHub's description does not list for the route (a secondary rate limit's 403,
        # a 502) has GitHub's error body.
        return {"$ref": "#/components/schemas/basic-error"}, None
    if resp is None:
        return None, f"{method} {route}: GitHub's description has no {status} response"
    while "$ref" in resp:
        resp = resolve(doc, resp["$ref"])
    content = resp.get("content", {}).get("application/json")
    if content is None:
        return None, f"{method} {route} {status}: no application/json body in the description"
    return content["schema"], None


def resolve(doc, ref):
    node = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def gitlab_schema(doc, method, route, status):
    if status >= 400:
        return {"$ref": "#/components/schemas/" + doc.get("error", "APIError")}, None
    spec = doc["endpoints"].get(f"{method} {route}")
    if spec is None:
        return None, f"no endpoint {method} {route} in the schemas of {doc.get('x-name', 'GitLab')}"
    name = spec.split(" ")[0] if not spec.startswith("array of ") else spec[len("array of "):].split(" ")[0]
    ref = {"$ref": f"#/components/schemas/{name}"}
    return ({"type": "array", "items": ref} if spec.startswith("array of ") else ref), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--github")
    ap.add_argument("--gitlab")
    ap.add_argument("--schema", action="append", default=[], help="NAME=FILE")
    ap.add_argument("exchanges")
    args = ap.parse_args()
    docs = {}
    for name, path in [("github", args.github), ("gitlab", args.gitlab)] + [s.split("=", 1) for s in args.schema]:
        if path:
            with open(path) as f:
                docs[name] = json.load(f)
            docs[name]["x-name"] = name
    components = {h: {"components": {"schemas": nullable_to_jsonschema(d["components"]["schemas"])}} for h, d in docs.items()}
    fc = checker()
    problems = 0
    count = 0
    with open(args.exchanges) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            ex = json.loads(line)
            count += 1
            host = ex["host"]
            if host not in docs:
                print(f"line {n}: no description given for host {host}")
                problems += 1
                continue
            find = github_schema if host == "github" else gitlab_schema
            schema, why = find(docs[host], ex["method"], ex["route"], ex["status"])
            if schema is None:
                print(f"line {n}: {why}")
                problems += 1
                continue
            root = dict(components[host])
            root.update(nullable_to_jsonschema(schema))
            validator = jsonschema.Draft4Validator(root, format_checker=fc)
            for err in sorted(validator.iter_errors(ex["body"]), key=lambda e: list(e.path))[:5]:
                path = "/".join(str(p) for p in err.path)
                print(f"line {n}: {host} {ex['method']} {ex['route']} {ex['status']}: at /{path}: {err.message[:300]}")
                problems += 1
    if problems:
        print(f"{problems} problems in {count} responses")
        sys.exit(1)
    print(f"ok: {count} responses")


if __name__ == "__main__":
    main()
