#!/usr/bin/env python3
"""Check rendered bgjobs manifests against the deployment's rules.

    kubectl kustomize k8s/overlays/prod | python3 k8s/check-policies.py

Reads multi-document YAML on stdin (needs PyYAML) and exits 1, printing one line per
violation as `<Kind>/<name>: <rule>`, unless every Deployment and Job follows them:

- every container: resources requests and limits for cpu and memory;
  runAsNonRoot (pod or container level); readOnlyRootFilesystem true;
  allowPrivilegeEscalation false; capabilities drop ALL; seccomp RuntimeDefault
  (pod or container level);
- Deployment containers: liveness and readiness probes (Jobs are exempt);
- every pod spec: automountServiceAccountToken false;
- Deployments: terminationGracePeriodSeconds >= 30;
- no secret-looking variable given by `value:` (names containing PASSWORD, SECRET,
  TOKEN or ACCESS_KEY, and the AMQP/NATS/DATABASE/SMTP URLs) -- it must come from a
  secretKeyRef; ConfigMaps must not carry such keys either;
- settings, against their declarations (docs/configuration.md, which `make docs`
  writes from them): every variable a container sets is one its program reads (the
  program is the container's command); every key of a ConfigMap the containers take
  with envFrom is a declared variable, never a secret one; every variable declared
  secret comes from a secretKeyRef;
- memory, against the benchmark (docs/performance.md, "What each process used"):
  a program's memory request is at least its measured peak, its limit at least
  twice that.
"""
import pathlib
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("check-policies.py needs PyYAML (pip install pyyaml)")

REFERENCE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
# Read by libraries, not declared as settings.
UNDECLARED_ALLOWED = {"RUST_LOG"}


def declarations(path=REFERENCE):
    """{variable: (programs reading it, secret?)} from the generated reference."""
    text = path.read_text()
    readers = {}
    for match in re.finditer(r"^\| \[`([A-Z0-9_]+)`\]\(#[a-z0-9_]+\) \| .*? \| (.*) \|$", text, re.M):
        readers[match.group(1)] = {p.strip() for p in match.group(2).split(",")}
    secret = set()
    for match in re.finditer(r"^### ([A-Z0-9_]+)\n(.*?)(?=^### |\Z)", text, re.M | re.S):
        if "Secret:" in match.group(2):
            secret.add(match.group(1))
    if not readers:
        sys.exit(f"check-policies.py: no settings table found in {path}")
    return {name: (programs, name in secret) for name, programs in readers.items()}


SETTINGS = declarations()

MEASUREMENTS = REFERENCE.parent / "performance.md"


def measured_peaks(path=MEASUREMENTS):
    """{program: peak resident memory in MiB} from the benchmark's table of what each
    process used (its last column)."""
    text = path.read_text()
    table = re.search(r"^\| process \| .* \| peak RSS \(MiB\) \|\n((?:\|.*\n)+)", text, re.M)
    if not table:
        sys.exit(f"check-policies.py: no table of peak memory found in {path}")
    peaks = {}
    for row in table.group(1).splitlines():
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if re.fullmatch(r"[a-z-]+", cells[0]) and re.fullmatch(r"[0-9.]+", cells[-1]):
            peaks[cells[0]] = float(cells[-1])
    return peaks


PEAKS = measured_peaks()
UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}


def mebibytes(quantity):
    """A memory quantity ("64Mi", "1Gi") in MiB; None when it is not in those units."""
    match = re.fullmatch(r"([0-9.]+)(Ki|Mi|Gi)", str(quantity))
    return float(match.group(1)) * UNITS[match.group(2)] if match else None


def check_memory(container, fail):
    name, program = container.get("name"), program_of(container)
    peak = PEAKS.get(program)
    if peak is None:
        return
    resources = container.get("resources") or {}
    for kind, factor in (("requests", 1), ("limits", 2)):
        quantity = (resources.get(kind) or {}).get("memory")
        amount = mebibytes(quantity)
        if amount is None:
            fail(f"container {name}: memory {kind} {quantity} is not in Ki, Mi or Gi")
        elif amount < peak * factor:
            fail(f"container {name}: memory {kind} {quantity} is below "
                 f"{'' if factor == 1 else f'{factor} x '}{program}'s measured peak of "
                 f"{peak} MiB (docs/performance.md)")

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|(AMQP|NATS|DATABASE|SMTP)_URL")
WORKLOADS = ("Deployment", "Job", "StatefulSet", "DaemonSet")


def pod_spec(obj):
    return (obj.get("spec") or {}).get("template", {}).get("spec") or {}


def check_secret_env(container, fail):
    for env in container.get("env") or []:
        name = env.get("name", "")
        if SECRET_NAME.search(name):
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if "value" in env or not ref:
                fail(f"container {container.get('name')}: env {name} looks secret and "
                     "must come from a secretKeyRef, not a value")


def check_container(kind, container, pod, fail):
    name = container.get("name")
    pod_sc = pod.get("securityContext") or {}
    sc = container.get("securityContext") or {}

    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if not (resources.get(section) or {}).get(res):
                fail(f"container {name}: resources.{section}.{res} missing")

    if kind != "Job":
        for probe in ("livenessProbe", "readinessProbe"):
            if not container.get(probe):
                fail(f"container {name}: {probe} missing")

    if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
        fail(f"container {name}: runAsNonRoot not true (pod or container)")
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(f"container {name}: securityContext.readOnlyRootFilesystem not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(f"container {name}: securityContext.allowPrivilegeEscalation not false")
    drop = (sc.get("capabilities") or {}).get("drop") or []
    if "ALL" not in drop:
        fail(f"container {name}: securityContext.capabilities.drop lacks ALL")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp != "RuntimeDefault":
        fail(f"container {name}: seccompProfile RuntimeDefault not set (pod or container)")
    check_secret_env(container, fail)
    check_settings(container, fail)
    check_memory(container, fail)


def program_of(container):
    command = container.get("command") or []
    return command[0].rsplit("/", 1)[-1] if command else None


def check_settings(container, fail):
    name, program = container.get("name"), program_of(container)
    if program is None:
        fail(f"container {name}: no command naming its program")
        return
    for env in container.get("env") or []:
        variable = env.get("name", "")
        declared = SETTINGS.get(variable)
        if declared is None:
            if variable not in UNDECLARED_ALLOWED:
                fail(f"container {name}: env {variable} is not a bgjobs setting "
                     "(docs/configuration.md)")
            continue
        programs, secret = declared
        if program not in programs:
            fail(f"container {name}: env {variable} is not read by {program} "
                 f"(only by {', '.join(sorted(programs))})")
        if secret and not (env.get("valueFrom") or {}).get("secretKeyRef"):
            fail(f"container {name}: env {variable} is a secret setting and must come "
                 "from a secretKeyRef")


def check_config_map(obj, fail):
    for key in obj.get("data") or {}:
        if SECRET_NAME.search(key):
            fail(f"key {key} looks secret; put it in a Secret (secretKeyRef)")
        declared = SETTINGS.get(key)
        if declared is None and key not in UNDECLARED_ALLOWED:
            fail(f"key {key} is not a bgjobs setting (docs/configuration.md)")
        elif declared is not None and declared[1]:
            fail(f"key {key} is a secret setting; put it in a Secret (secretKeyRef)")


def env_config_maps(docs):
    """Names of the ConfigMaps some container takes whole with envFrom."""
    names = set()
    for obj in docs:
        if isinstance(obj, dict) and obj.get("kind") in WORKLOADS:
            pod = pod_spec(obj)
            for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                for source in container.get("envFrom") or []:
                    ref = source.get("configMapRef") or {}
                    if ref.get("name"):
                        names.add(ref["name"])
    return names


def check(docs):
    errors = []
    workloads = 0
    settings_maps = env_config_maps(docs)
    for obj in docs:
        if not isinstance(obj, dict):
            continue
        kind = obj.get("kind")
        ident = f"{kind}/{(obj.get('metadata') or {}).get('name')}"

        def fail(rule, ident=ident):
            errors.append(f"{ident}: {rule}")

        if kind == "ConfigMap":
            if (obj.get("metadata") or {}).get("name") in settings_maps:
                check_config_map(obj, fail)
            continue
        if kind not in WORKLOADS:
            continue
        workloads += 1
        pod = pod_spec(obj)
        if pod.get("automountServiceAccountToken") is not False:
            fail("pod spec automountServiceAccountToken not false")
        if kind == "Deployment":
            grace = pod.get("terminationGracePeriodSeconds")
            if grace is None or grace < 30:
                fail(f"terminationGracePeriodSeconds {grace} < 30")
        containers = (pod.get("containers") or []) + (pod.get("initContainers") or [])
        if not containers:
            fail("no containers")
        for container in containers:
            check_container(kind, container, pod, fail)
    return workloads, errors


def main():
    try:
        workloads, errors = check(list(yaml.safe_load_all(sys.stdin)))
    except yaml.YAMLError as error:
        print(f"FAIL input is not valid YAML: {error}")
        return 2
    for error in errors:
        print(f"FAIL {error}")
    if workloads == 0:
        print("FAIL no Deployment or Job in the input")
        return 1
    if errors:
        print(f"{len(errors)} violation(s) in {workloads} workload(s)")
        return 1
    print(f"OK: {workloads} workload(s) follow every rule")
    return 0


if __name__ == "__main__":
    sys.exit(main())
