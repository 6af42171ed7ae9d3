"""One release number (pyproject.toml), named by /metrics and /readyz in either mode, and recorded with its notes
and its predecessor's git ref in CHANGELOG.md."""

import re
import subprocess
import tomllib

import pytest
from django.conf import settings
from django.test import Client, override_settings

from ecomarket.tests.test_metrics import LOOPBACK, scrape, value
from ecomarket.version import VERSION, version_reported
from harness.processes import ROOT

CHANGELOG = ROOT / "CHANGELOG.md"


def test_the_version_is_the_one_in_pyproject():
    with (ROOT / "pyproject.toml").open("rb") as file:
        assert tomllib.load(file)["project"]["version"] == VERSION


def test_the_changelog_s_newest_entry_is_this_version_and_says_what_an_operator_must_do():
    text = CHANGELOG.read_text()
    entries = re.findall(r"^## (\S+)", text, flags=re.MULTILINE)
    assert entries[0] == VERSION
    newest = text.split(f"## {VERSION}", 1)[1].split("\n## ", 1)[0]
    assert "### What an operator must do" in newest
    assert "### Rolling back" in newest


def test_the_previous_release_is_a_git_ref_this_repository_holds():
    from harness.releases import previous_release

    release = previous_release()
    assert release.version in re.findall(r"^## (\S+)", CHANGELOG.read_text(), flags=re.MULTILINE)[1:]
    kind = subprocess.run(
        ["git", "cat-file", "-t", release.ref], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    assert kind == "commit"
    shown = subprocess.run(
        ["git", "show", f"{release.ref}:pyproject.toml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tomllib.loads(shown)["project"]["version"] == release.version


@pytest.mark.parametrize(
    "header, kept",
    [("0.2.0", "0.2.0"), (" 1.10.3rc1 ", "1.10.3rc1"), ("", ""), (None, ""), ("0.2.0 <script>", ""), ("9" * 40, "")],
)
def test_central_keeps_a_release_number_and_nothing_else(header, kept):
    assert version_reported(header) == kept


@LOOPBACK
def test_metrics_export_the_build_info(db):
    samples = scrape()

    assert value(samples, "ecomarket_build_info", version=VERSION, mode=settings.ECOMARKET_MODE.value) == 1


@override_settings(METRICS_TOKEN="readyz-scraper-secret", METRICS_ALLOW_FROM=[])
def test_readyz_names_the_version_to_an_operator_and_not_to_a_stranger(db):
    operator = Client(HTTP_AUTHORIZATION="Bearer readyz-scraper-secret").get("/readyz").json()
    stranger = Client().get("/readyz").json()

    assert operator["version"] == VERSION
    assert "version" not in stranger
