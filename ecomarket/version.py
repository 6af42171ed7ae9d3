"""The running release: the one version number, read from ``pyproject.toml`` (CHANGELOG.md says what each one
changed and what an operator must do). A branch sends it to head office with every push and pull
(``VERSION_HEADER``), so central knows which store runs which release while a chain upgrades store by store."""

import re
import tomllib
from pathlib import Path

VERSION_HEADER = "X-EcoMarket-Version"
# What central keeps from the header: a release number, never free text a client chose (it reaches /metrics labels
# and the dashboard). Anything else is kept as not reported.
VERSION_FORMAT = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]{0,31}")


def _read() -> str:
    # The deployments run from a checkout (/opt/ecomarket, the Docker image copies the file too), not from an
    # installed distribution, so the file is the source rather than importlib.metadata.
    with (Path(__file__).resolve().parents[1] / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]["version"]


VERSION = _read()


def version_reported(value: str | None) -> str:
    """The version a caller's header names, or '' when it sent none (a branch older than the header) or something
    that is not a release number."""
    value = (value or "").strip()
    return value if VERSION_FORMAT.fullmatch(value) else ""
