#!/usr/bin/env bash
# usage: deploy/k8s-check.sh
# Renders every overlay of k8s/ with kustomize (kubectl's) and checks what comes out:
# - against the Kubernetes API's schemas, strictly (no unknown field), for the oldest
#   and newest versions bgjobs supports (kubernetes-validate);
# - the custom resources (KEDA, cert-manager, Prometheus Operator) against the CRD
#   schemas vendored in k8s/crds/, as strictly (k8s/check-crds.py); one without a
#   vendored CRD is an error;
# - the alerts: PromQL that parses, a severity, a runbook in docs/operations.md
#   (k8s/check-alerts.py);
# - against the rules of k8s/check-policies.py (probes, limits, non-root, read-only
#   root, no privilege escalation, no secret in plain values...).
# Installs the checkers' Python packages in .stack/k8s-venv, again whenever the list
# below changes. Part of `make test`. One line per overlay, or the failures.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Kubernetes versions the manifests are checked against (k8s/README.md).
versions=(1.29.0 1.33.0)
venv=.stack/k8s-venv
requirements=('kubernetes-validate==1.37.0' 'PyYAML>=6,<7' 'jsonschema==4.26.0' 'promql-parser==0.11.0')
if [ "$(cat "$venv/requirements.txt" 2>/dev/null)" != "$(printf '%s\n' "${requirements[@]}")" ]; then
    echo "installing ${requirements[*]} in $venv"
    python3 -m venv --clear "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
    printf '%s\n' "${requirements[@]}" >"$venv/requirements.txt"
fi

# Runs a checker on the rendered YAML; prints its findings and fails if it does.
check() {
    local out
    if ! out=$("$venv/bin/python" "$1" <<<"$rendered"); then
        echo "k8s/overlays/$name: $1 failed:" >&2
        echo "$out" >&2
        exit 1
    fi
    echo "${out#OK: }"
}

for overlay in k8s/overlays/*/; do
    name=$(basename "$overlay")
    rendered=$(kubectl kustomize "$overlay")
    for version in "${versions[@]}"; do
        "$venv/bin/kubernetes-validate" --strict --quiet --no-warn -k "$version" - <<<"$rendered"
    done
    custom=$(check k8s/check-crds.py)
    alerts=$(check k8s/check-alerts.py)
    check k8s/check-policies.py >/dev/null
    echo "k8s/overlays/$name: renders, valid for Kubernetes ${versions[*]}, custom resources valid for their CRDs ($custom), $alerts, follows the policies"
done
