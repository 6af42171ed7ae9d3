"""Branch side: online backups of the branch's SQLite file, and putting one back (``manage.py backup``,
``manage.py restore``).

A backup is taken with SQLite's online backup API in a single step: it reads one consistent snapshot inside a
read transaction, which in WAL mode never blocks the tills' writes (nor waits for them), so a backup can run while
the store sells. It is written to a temporary name, checked (``PRAGMA quick_check``), fsynced and only then
renamed into place, so BACKUP_DIR never holds a half-written copy under a backup's name.

What a backup cannot hold (what the store did after it) central holds: a restored branch fetches it back before
it pushes again (branches/recovery.py).

A copy on the box dies with the box's disk, so each new backup is also copied off it (:func:`branch_backup_offbox`):
into BACKUP_COPY_TO (a mounted share; written under a temporary name, renamed whole, the newest BACKUP_KEEP kept
there) and/or through BACKUP_COPY_COMMAND (``rclone``, ``scp``...). A record of the newest backup that went off the
box (``.offbox.json`` in BACKUP_DIR) is what /metrics reads its age from.
"""

import json
import logging
import os
import shlex
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connections

from ecomarket.modes import Mode, only

log = logging.getLogger(__name__)

SUFFIX = ".sqlite3"


class BackupError(Exception):
    pass


def _database_path() -> Path:
    return Path(settings.DATABASES["default"]["NAME"])


def _backup_dir() -> Path:
    return Path(settings.BACKUP_DIR)


def _copy(source: Path, target: Path) -> None:
    """Copy a SQLite database through SQLite itself (never the file and its WAL separately)."""
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=settings.SQLITE_BUSY_TIMEOUT_S) as src:
        with sqlite3.connect(target) as dst:
            src.backup(dst)  # one step: a single consistent read snapshot of the source
        dst.close()
    src.close()


def _check(path: Path) -> None:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    if verdict != "ok":
        raise BackupError(f"{path} failed SQLite's quick_check: {verdict}")
    if "branches_outboxevent" not in tables:
        raise BackupError(f"{path} is not an EcoMarket branch database (no outbox table)")


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def branch_backups() -> list[Path]:
    """This branch's backups in BACKUP_DIR, oldest first (their names sort by time)."""
    directory = _backup_dir()
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"{settings.BRANCH_CODE}-*{SUFFIX}"))


def branch_backup_last_at() -> datetime | None:
    """When the newest backup was taken (its file's modification time), or None: what sync status reports."""
    backups = branch_backups()
    if not backups:
        return None
    return datetime.fromtimestamp(backups[-1].stat().st_mtime, tz=UTC)


@only(Mode.BRANCH)
def branch_backup_create() -> Path:
    """Take an online, consistent copy of the branch database into BACKUP_DIR and keep the newest BACKUP_KEEP.
    Safe to run while tills sell and safe to run twice (each run makes its own file). Branch mode."""
    directory = _backup_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = directory / f"{settings.BRANCH_CODE}-{stamp}{SUFFIX}"
    partial = directory / f".{target.name}.partial"
    partial.unlink(missing_ok=True)
    try:
        _copy(_database_path(), partial)
        _check(partial)
        _fsync(partial)
        os.replace(partial, target)
        _fsync(directory)
    finally:
        partial.unlink(missing_ok=True)
    for old in branch_backups()[: -settings.BACKUP_KEEP] if settings.BACKUP_KEEP > 0 else []:
        old.unlink(missing_ok=True)
    log.info("backup written: %s (%s bytes)", target, target.stat().st_size)
    return target


@only(Mode.BRANCH)
def branch_backup_restore(*, source: Path) -> Path | None:
    """Put ``source`` back as the branch database. Every server, worker and beat of the branch must be stopped.
    The database being replaced is kept next to the backups first (if it can still be read) and its path is
    returned. The restored database is then behind central: its next push recovers (branches/recovery.py)."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    _check(source)
    target = _database_path()
    connections.close_all()
    kept = None
    if target.exists():
        directory = _backup_dir()
        directory.mkdir(parents=True, exist_ok=True)
        kept = directory / f"replaced-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}{SUFFIX}"
        try:
            _copy(target, kept)
        except sqlite3.Error as error:  # the disk that failed: nothing to keep
            log.warning("the database being replaced could not be kept: %s", error)
            kept.unlink(missing_ok=True)
            kept = None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _copy(source, target)
    except sqlite3.DatabaseError as error:
        # The file being replaced is not a database any more (the failing disk): set it and its WAL aside, whole.
        log.warning("the database being replaced is unreadable (%s): set aside, restoring into a new file", error)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        for suffix in ("", "-wal", "-shm"):
            broken = Path(f"{target}{suffix}")
            if broken.exists():
                broken.rename(f"{target}{suffix}.broken-{stamp}")
        _copy(source, target)
    return kept


OFFBOX_RECORD = ".offbox.json"


def offbox_configured() -> bool:
    return bool(settings.BACKUP_COPY_TO or settings.BACKUP_COPY_COMMAND)


def _copy_to_folder(backup: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{backup.name}.partial"
    try:
        shutil.copyfile(backup, partial)
        _fsync(partial)
        os.replace(partial, folder / backup.name)
    finally:
        partial.unlink(missing_ok=True)
    _fsync(folder)
    kept = sorted(folder.glob(f"{settings.BRANCH_CODE}-*{SUFFIX}"))
    for old in kept[: -settings.BACKUP_KEEP] if settings.BACKUP_KEEP > 0 else []:
        old.unlink(missing_ok=True)


def _copy_by_command(backup: Path) -> None:
    """Run BACKUP_COPY_COMMAND with the backup's path in place of ``{path}`` (or after it, when it names none),
    without a shell; it must exit 0 within BACKUP_COPY_TIMEOUT_S."""
    words = shlex.split(settings.BACKUP_COPY_COMMAND)
    if "{path}" in settings.BACKUP_COPY_COMMAND:
        words = [word.replace("{path}", str(backup)) for word in words]
    else:
        words.append(str(backup))
    try:
        # The operator's own command from the env file, run without a shell.
        done = subprocess.run(
            words, capture_output=True, text=True, timeout=settings.BACKUP_COPY_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise BackupError(f"BACKUP_COPY_COMMAND failed: {error}") from error
    if done.returncode != 0:
        raise BackupError(f"BACKUP_COPY_COMMAND exited {done.returncode}: {(done.stderr or done.stdout)[-500:]}")


@only(Mode.BRANCH)
def branch_backup_offbox(*, backup: Path) -> bool:
    """Copy ``backup`` off the box: into BACKUP_COPY_TO and/or through BACKUP_COPY_COMMAND, whichever are set; then
    record it as the newest backup off the box. Whether anything was configured. Raises BackupError when a copy
    failed (the record stays at the previous one, so its age in /metrics grows and the alert fires). Safe to run
    twice: the same file is copied again under the same name."""
    if not offbox_configured():
        return False
    if settings.BACKUP_COPY_TO:
        try:
            _copy_to_folder(backup, Path(settings.BACKUP_COPY_TO))
        except OSError as error:
            raise BackupError(f"copy to BACKUP_COPY_TO failed: {error}") from error
    if settings.BACKUP_COPY_COMMAND:
        _copy_by_command(backup)
    record = _backup_dir() / OFFBOX_RECORD
    partial = record.with_name(f"{OFFBOX_RECORD}.partial")
    partial.write_text(json.dumps({"backup": backup.name, "taken_at": backup.stat().st_mtime}))
    os.replace(partial, record)
    log.info("backup copied off the box: %s", backup.name)
    return True


def branch_backup_offbox_taken_at() -> float | None:
    """When the newest backup copied off the box was taken (a Unix time), or None when none was."""
    try:
        return float(json.loads((_backup_dir() / OFFBOX_RECORD).read_text())["taken_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
