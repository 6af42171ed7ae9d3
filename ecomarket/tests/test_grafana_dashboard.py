"""The Grafana dashboard (deploy/grafana/) queries only what the servers export, in PromQL that parses."""

import ast
import json
import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import REGISTRY

from ecomarket import metrics
from harness.processes import ROOT

pytestmark = [pytest.mark.mode("branch")]  # the branch's run has promtool (Makefile: test-branch needs prometheus)

DASHBOARD = ROOT / "deploy" / "grafana" / "ecomarket-chain.json"
NAME = re.compile(r"\b(ecomarket_[a-z0-9_]+|up)\b")
# A histogram is queried by its series; a counter by its _total (the OpenMetrics names prometheus-client exposes).
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
PROMETHEUS_OWN = {"up"}


def exported() -> set[str]:
    """Every series name the code defines: the counters and histograms in the registry, and the gauges the
    collectors build at scrape time (each a string literal naming the family in ecomarket/metrics.py or an app's
    metrics.py)."""
    names = set(PROMETHEUS_OWN)
    for collector in list(REGISTRY._collector_to_names):  # the registry keeps no public list
        describe = getattr(collector, "describe", None)
        for family in describe() if describe else []:
            if family.name.startswith("ecomarket_"):
                names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    for path in ROOT.glob("*/metrics.py"):
        names |= {
            node.value
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"ecomarket_\w+", node.value)
        }
    return names


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    found += [variable["definition"] for variable in dashboard["templating"]["list"] if variable["type"] == "query"]
    return found


def test_every_metric_the_dashboard_queries_is_exported():
    defined = exported()
    assert metrics.SALES._name == "ecomarket_sales" and "ecomarket_sales_total" in defined  # the registry was read

    used = {name for query in queries() for name in NAME.findall(query)}

    assert used, "the dashboard queries nothing"
    assert used - defined == set()


def test_the_dashboard_shows_what_a_chain_needs_to_see():
    used = {name for query in queries() for name in NAME.findall(query)}

    for name in (
        "ecomarket_sales_total",
        "ecomarket_push_attempts_total",
        "ecomarket_outbox_pending_events",
        "ecomarket_branch_lag_events",
        "ecomarket_discrepancies_open",
        "ecomarket_branch_version_info",
        "ecomarket_branch_clock_skew_seconds",
        "ecomarket_backup_offbox_age_seconds",
    ):
        assert name in used, name


def test_every_query_is_promql_that_parses(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: make prometheus"
    grafana_variables = {"$store": ".*", "$__all": ".*"}
    rules = []
    for number, query in enumerate(queries()):
        for variable, value in grafana_variables.items():
            query = query.replace(variable, value)
        if query.startswith("label_values("):  # Grafana's own function: the selector inside is PromQL
            query = query.removeprefix("label_values(").rsplit(",", 1)[0]
        rules.append({"record": f"dashboard:query_{number}", "expr": query})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)

    assert checked.returncode == 0, checked.stdout + checked.stderr
