"""The previous release, as the tests run it: its commit (``pyproject.toml``, ``[tool.ecomarket]
previous_release``) checked out under a temporary folder, with a virtualenv of its own made from that release's
requirements. The tree comes from ``git archive``, not ``git worktree add``: a worktree would be registered in the
repository (shared by every checkout of it) and left behind there when the temporary folder is cleaned. Both are
kept between runs, keyed by the commit and its requirements, so only the first run on a machine pays for the install
(pip may take what it needs from its local cache)."""

import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.processes import ROOT

INSTALL_TIMEOUT_S = 600


@dataclass(frozen=True)
class Release:
    version: str
    ref: str


@dataclass(frozen=True)
class Checkout:
    release: Release
    root: Path
    python: str


def previous_release() -> Release:
    with (ROOT / "pyproject.toml").open("rb") as file:
        recorded = tomllib.load(file)["tool"]["ecomarket"]["previous_release"]
    return Release(version=recorded["version"], ref=recorded["ref"])


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120).stdout


def release_checkout(release: Release, *, base: Path | None = None) -> Checkout:
    """The release's code and a virtualenv that runs it, made once per machine (under a lock: two test runs at once
    build it once). A half-made one (a run killed during pip) has no stamp and is made again."""
    requirements = _git("show", f"{release.ref}:requirements.txt") + _git("show", f"{release.ref}:constraints.txt")
    key = hashlib.sha256(f"{release.ref}\n{requirements}\n{sys.version}".encode()).hexdigest()[:16]
    folder = (base or Path(tempfile.gettempdir())) / f"ecomarket-release-{release.version}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    code, venv, stamp = folder / "code", folder / "venv", folder / "ready"
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            shutil.rmtree(venv, ignore_errors=True)
            shutil.rmtree(code, ignore_errors=True)
            code.mkdir()
            archive = subprocess.run(
                ["git", "archive", "--format=tar", release.ref], cwd=ROOT, capture_output=True, check=True, timeout=120
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True, timeout=120)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            subprocess.run(
                [
                    str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(code / "requirements.txt"), "-c", str(code / "constraints.txt"),
                ],
                check=True,
                timeout=INSTALL_TIMEOUT_S,
            )  # fmt: skip
            stamp.write_text(release.ref)
    return Checkout(release=release, root=code, python=str(venv / "bin" / "python"))
