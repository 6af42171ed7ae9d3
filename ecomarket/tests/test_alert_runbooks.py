"""Every alert rule links its runbook: a section of the README that exists, named for the alert."""

import re

import yaml

from harness.processes import ROOT


def _anchors(markdown: str) -> set[str]:
    """The anchors a Markdown renderer gives the headings (GitHub's rule: lower case, punctuation dropped, spaces
    to hyphens)."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def _rules() -> list[dict]:
    groups = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_names_a_runbook_section_of_the_readme_that_exists():
    anchors = _anchors((ROOT / "README.md").read_text())
    rules = _rules()

    assert rules
    for rule in rules:
        url = rule["annotations"].get("runbook_url", "")
        page, _, anchor = url.partition("#")
        assert (page, anchor) == ("README.md", rule["alert"].lower()), rule["alert"]
        assert anchor in anchors, f"{rule['alert']}: no README heading for #{anchor}"
