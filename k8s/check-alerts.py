#!/usr/bin/env python3
"""Check the alerting rules and dashboard queries of rendered bgjobs manifests.

    kubectl kustomize k8s/overlays/prod | python3 k8s/check-alerts.py

Reads multi-document YAML on stdin (needs PyYAML and promql-parser, the Python binding
of GreptimeTeam's PromQL parser in Rust). For every rule of every PrometheusRule:

- `expr` parses as PromQL (syntax, and functions that exist);
- an alert has `labels.severity` (critical, warning or info) and
  `annotations.runbook_url` ending in `docs/operations.md#<anchor>`, where <anchor>
  is the anchor GitHub gives one of that file's headings.

Every query of the Grafana dashboard (a ConfigMap holding a `*.json` with `panels`)
must parse too; and every `bgjobs_*` metric an expr or query names must be one that
docs/operations.md ("Metrics") documents, so a misspelt or renamed metric, which
PromQL would accept and which would never match, fails here.

Prints `OK: <n> alert(s) parse...` (or `OK: no alert`), or one `FAIL PrometheusRule/<name> <alert>: <error>`
line per error and exits 1. An input without PrometheusRule passes.
"""
import json
import pathlib
import re
import sys
import urllib.parse

try:
    import promql_parser
    import yaml
except ImportError:
    sys.exit("check-alerts.py needs PyYAML and promql-parser (pip install pyyaml promql-parser)")

RUNBOOKS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "operations.md"
SEVERITIES = ("critical", "warning", "info")
METRIC = re.compile(r"\bbgjobs_[a-z0-9_]+")
HISTOGRAM_SERIES = re.compile(r"_(bucket|count|sum)$")


def documented_metrics(markdown):
    """The metric names of the table rows in docs/operations.md: | `bgjobs_...` |."""
    return set(re.findall(r"^\| `(bgjobs_[a-z0-9_]+)` \|", markdown, re.M))


def unknown_metrics(expr, documented):
    named = {HISTOGRAM_SERIES.sub("", name) if name not in documented else name
             for name in METRIC.findall(expr)}
    return sorted(named - documented)


def check_query(expr, documented, fail):
    try:
        promql_parser.parse(expr)
    except ValueError as error:
        fail(f"expr does not parse as PromQL: {error}")
    for name in unknown_metrics(expr, documented):
        fail(f"names {name}, which docs/operations.md does not document as a metric")


def dashboard_queries(obj):
    """(panel title, expr) of every dashboard JSON a ConfigMap carries."""
    for key, value in ((obj.get("data") or {}).items()):
        if not key.endswith(".json"):
            continue
        board = json.loads(value)
        for panel in board.get("panels") or []:
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    yield panel.get("title"), target["expr"]


def github_anchors(markdown):
    """The anchors GitHub gives the ATX headings of a Markdown file."""
    anchors, seen, fence = set(), {}, None
    for line in markdown.splitlines():
        stripped = line.strip()
        marker = re.match(r"(`{3,}|~{3,})", stripped)
        if marker:
            if fence is None:
                fence = marker.group(1)[0]
            elif stripped.startswith(fence * 3):
                fence = None
            continue
        heading = re.match(r" {0,3}#{1,6}\s+(.*?)(\s+#+)?\s*$", line)
        if fence is not None or not heading:
            continue
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1))
        text = text.replace("`", "").replace("*", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def check(docs, anchors, documented):
    errors, alerts, records = [], 0, 0
    for obj in docs:
        if isinstance(obj, dict) and obj.get("kind") == "ConfigMap":
            name = (obj.get("metadata") or {}).get("name")
            for title, expr in dashboard_queries(obj):
                check_query(expr, documented,
                            lambda message, title=title: errors.append(
                                f"ConfigMap/{name} panel {title!r}: {message}"))
            continue
        if not isinstance(obj, dict) or obj.get("kind") != "PrometheusRule":
            continue
        name = (obj.get("metadata") or {}).get("name")
        for group in (obj.get("spec") or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                alert = rule.get("alert")
                ident = f"PrometheusRule/{name} {alert or rule.get('record')}"

                def fail(message, ident=ident):
                    errors.append(f"{ident}: {message}")

                check_query(str(rule.get("expr", "")), documented, fail)
                if not alert:
                    records += 1
                    continue
                alerts += 1
                severity = (rule.get("labels") or {}).get("severity")
                if severity not in SEVERITIES:
                    fail(f"labels.severity is {severity!r}, not one of {', '.join(SEVERITIES)}")
                url = (rule.get("annotations") or {}).get("runbook_url")
                if not url:
                    fail("annotations.runbook_url missing")
                    continue
                parsed = urllib.parse.urlsplit(url)
                if not parsed.path.endswith("docs/operations.md"):
                    fail(f"annotations.runbook_url {url} is not in docs/operations.md")
                elif parsed.fragment not in anchors:
                    fail(f"annotations.runbook_url {url}: docs/operations.md has no "
                         f"heading with anchor #{parsed.fragment}")
    return alerts, records, errors


def main():
    runbooks = RUNBOOKS.read_text()
    anchors = github_anchors(runbooks)
    try:
        docs = list(yaml.safe_load_all(sys.stdin))
    except yaml.YAMLError as error:
        print(f"FAIL input is not valid YAML: {error}")
        return 2
    alerts, records, errors = check(docs, anchors, documented_metrics(runbooks))
    for error in errors:
        print(f"FAIL {error}")
    if errors:
        print(f"{len(errors)} error(s) in alerting rules")
        return 1
    if alerts + records == 0:
        print("OK: no alert")
    else:
        extra = f" and {records} recording rule(s)" if records else ""
        print(f"OK: {alerts} alert(s){extra} parse as PromQL, with severities and runbooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
