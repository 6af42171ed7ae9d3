"""``manage.py central_backup``: head office's database with ``pg_dump`` in its custom format into ``BACKUP_DIR``,
keeping the newest ``BACKUP_KEEP``. Run on a schedule by the operator (docs/operations.md, "Backups and
recovery"); restore with ``pg_restore`` into a new database."""

import os
import subprocess
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ecomarket.modes import Mode, only

PREFIX = "central-"
SUFFIX = ".dump"


class Command(BaseCommand):
    help = "Dump head office's PostgreSQL database (pg_dump -Fc) into BACKUP_DIR and keep the newest BACKUP_KEEP."

    @only(Mode.CENTRAL)
    def handle(self, *args, **options):
        database = settings.DATABASES["default"]
        folder = settings.BACKUP_DIR
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{PREFIX}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}{SUFFIX}"
        partial = folder / f".{name}.partial"
        environment = {**os.environ, "PGPASSWORD": str(database.get("PASSWORD") or "")}
        command = [
            "pg_dump", "--format=custom", "--no-owner", "--file", str(partial),
            "--host", str(database.get("HOST") or "localhost"), "--port", str(database.get("PORT") or 5432),
            "--username", str(database.get("USER") or ""), str(database["NAME"]),
        ]  # fmt: skip
        # Straight at PostgreSQL, not through PgBouncer in transaction mode: pg_dump needs one session throughout.
        result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise CommandError(f"pg_dump failed: {result.stderr.strip()[:500]}")
        with partial.open("rb") as file:
            os.fsync(file.fileno())
        # Renamed only once whole: a dump cut short by a crash never looks like a backup.
        target = folder / name
        partial.rename(target)
        kept = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))
        for old in kept[: max(0, len(kept) - settings.BACKUP_KEEP)]:
            old.unlink()
        self.stdout.write(f"backup: {target}")
