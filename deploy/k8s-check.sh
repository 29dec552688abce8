#!/usr/bin/env bash
# usage: deploy/k8s-check.sh
# Renders every overlay of k8s/ with kustomize (kubectl's) and checks what comes out:
# - against the Kubernetes API's schemas, strictly (no unknown field), for the oldest
#   and newest versions bgjobs supports (kubernetes-validate; custom resources such as
#   KEDA's and cert-manager's are not in those schemas and are reported as skipped);
# - against the rules of k8s/check-policies.py (probes, limits, non-root, read-only
#   root, no privilege escalation, no secret in plain values...).
# Installs the validator in .stack/k8s-venv the first time. Part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Kubernetes versions the manifests are checked against (k8s/README.md).
versions=(1.29.0 1.33.0)
venv=.stack/k8s-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    echo "installing kubernetes-validate in $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        'kubernetes-validate==1.37.0' 'PyYAML>=6,<7'
fi

for overlay in k8s/overlays/*/; do
    name=$(basename "$overlay")
    rendered=$(kubectl kustomize "$overlay")
    for version in "${versions[@]}"; do
        "$venv/bin/kubernetes-validate" --strict --quiet --no-warn -k "$version" - <<<"$rendered"
    done
    "$venv/bin/python" k8s/check-policies.py <<<"$rendered" >/dev/null
    echo "k8s/overlays/$name: renders, valid for Kubernetes ${versions[*]}, follows the policies"
done
