#!/usr/bin/env python3
"""Check the custom resources of rendered bgjobs manifests against their CRDs.

    kubectl kustomize k8s/overlays/prod | python3 k8s/check-crds.py

Reads multi-document YAML on stdin (needs PyYAML and jsonschema). Every object whose
API group is not one of Kubernetes' own must match a CRD vendored in k8s/crds/ (group,
served version, kind; k8s/crds/README.md says which release each comes from) and
validate against that version's openAPIV3Schema, read as the API server reads it:

- an unknown field is an error wherever the schema lists `properties` and sets neither
  `additionalProperties` nor `x-kubernetes-preserve-unknown-fields` (the API server
  would drop it without a word);
- null only where `nullable: true`; `x-kubernetes-int-or-string` takes either;
- the other `x-kubernetes-*` keywords (list types, CEL `x-kubernetes-validations`)
  and `format` are not checked.

A custom resource without a vendored CRD is an error too: nothing is skipped.
Prints `OK: <count> <Kind>, ...` (the custom resources validated, by kind), or one
`FAIL <Kind>/<name>: <JSON path>: <error>` line per error and exits 1.
"""
import collections
import pathlib
import re
import sys

try:
    import jsonschema
    import yaml
except ImportError:
    sys.exit("check-crds.py needs PyYAML and jsonschema (pip install pyyaml jsonschema)")

CRDS = pathlib.Path(__file__).resolve().parent / "crds"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when there: faster

# The API groups Kubernetes itself serves (1.29 to 1.33), whose objects
# kubernetes-validate checks. Anything else is a custom resource.
BUILTIN_GROUPS = {
    "", "apps", "batch", "autoscaling", "policy",
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "certificates.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "networking.k8s.io",
    "node.k8s.io", "rbac.authorization.k8s.io", "resource.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "storagemigration.k8s.io",
}


GO_PATTERNS = {}  # Python regex: the CRD's own, for error messages


def python_regex(pattern):
    """A CRD pattern (Go's RE2 syntax) in Python's: RE2 takes flags such as (?i) after
    the ^, and its $ matches only at the very end."""
    python = re.sub(r"^\^(\(\?[ims]+\))", r"\1^", pattern)
    if python.endswith("$") and not python.endswith("\\$"):
        python = python[:-1] + r"\Z"
    re.compile(python)  # fails here, naming the pattern, if Python cannot read it
    GO_PATTERNS[python] = pattern
    return python


def closed(schema, in_junctor=False):
    """A CRD's structural OpenAPI v3 schema as JSON Schema, closed where Kubernetes
    prunes unknown fields. Subschemas of allOf/anyOf/oneOf/not only restrict fields
    declared beside them, so they are not closed themselves."""
    out = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: closed(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = closed(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [closed(sub, True) for sub in value]
        elif key == "not":
            out[key] = closed(value, True)
        elif key == "pattern":
            out[key] = python_regex(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            if value:  # OpenAPI 3.0: a flag on minimum/maximum; JSON Schema: the bound
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                out[key] = schema[bound]
        elif key == "format" or key == "nullable" or key.startswith("x-kubernetes-"):
            continue
        elif key not in ("minimum", "maximum") or not schema.get(f"exclusive{key.title()}"):
            out[key] = value
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["type"] = ["integer", "string"]
    if (not in_junctor and "properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    if schema.get("nullable"):
        out = {"anyOf": [{"type": "null"}, out]}
    return out


def load_crds():
    """{(apiVersion, kind): validator} for every served version of every vendored CRD."""
    validators = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=LOADER):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served"):
                    continue
                schema = closed(version["schema"]["openAPIV3Schema"])
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                validators[key] = jsonschema.Draft202012Validator(schema)
    return validators


def check(docs, validators):
    errors = []
    validated = collections.Counter()
    for obj in docs:
        if not isinstance(obj, dict):
            continue
        api_version, kind = obj.get("apiVersion", ""), obj.get("kind")
        group = api_version.rpartition("/")[0]
        if group in BUILTIN_GROUPS:
            continue
        ident = f"{kind}/{(obj.get('metadata') or {}).get('name')}"
        validator = validators.get((api_version, kind))
        if validator is None:
            errors.append(f"{ident}: no CRD in k8s/crds/ serves {kind} in {api_version}; "
                          "vendor it (k8s/crds/README.md)")
            continue
        if not isinstance((obj.get("metadata") or {}).get("name"), str):
            errors.append(f"{ident}: $.metadata.name: missing")
        for error in sorted(validator.iter_errors(obj), key=lambda e: e.json_path):
            message = error.message
            if error.validator == "pattern":
                message = f"{error.instance!r} does not match {GO_PATTERNS[error.validator_value]}"
            if len(message) > 300:
                message = message[:300] + "..."
            errors.append(f"{ident}: {error.json_path}: {message}")
        validated[kind] += 1
    return validated, errors


def main():
    validators = load_crds()
    try:
        docs = list(yaml.load_all(sys.stdin, Loader=LOADER))
    except yaml.YAMLError as error:
        print(f"FAIL input is not valid YAML: {error}")
        return 2
    validated, errors = check(docs, validators)
    for error in errors:
        print(f"FAIL {error}")
    if errors:
        print(f"{len(errors)} error(s) in custom resources")
        return 1
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(validated.items()))
    print(f"OK: {counts or 'no custom resource'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
