"""Every alert rule links its runbook: a section of docs/operations.md that exists, named for the alert; and every
link between the project's Markdown pages lands on a page and a heading that exist."""

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


def test_every_alert_names_a_runbook_section_of_the_operations_page_that_exists():
    anchors = _anchors((ROOT / "docs/operations.md").read_text())
    rules = _rules()

    assert rules
    for rule in rules:
        url = rule["annotations"].get("runbook_url", "")
        page, _, anchor = url.partition("#")
        assert (page, anchor) == ("docs/operations.md", rule["alert"].lower()), rule["alert"]
        assert anchor in anchors, f"{rule['alert']}: no heading in docs/operations.md for #{anchor}"


def test_every_link_between_the_markdown_pages_finds_its_page_and_heading():
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if "://" in link:
                continue
            target, _, anchor = link.partition("#")
            linked = (page.parent / target).resolve() if target else page
            assert linked.exists(), f"{page.name}: no file {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked.read_text()), f"{page.name}: no heading #{anchor} in {linked.name}"
            checked += 1
    assert checked > 10  # the scan does find the links
