from django.core.management.base import BaseCommand, CommandError

from branches.backup import BackupError, branch_backup_create, branch_backup_offbox, branch_backups
from ecomarket import modes


class Command(BaseCommand):
    help = (
        "Branch: take an online, consistent copy of the branch database into BACKUP_DIR (tills keep selling), "
        "keep the newest BACKUP_KEEP, and copy it off the box (BACKUP_COPY_TO, BACKUP_COPY_COMMAND) when set."
    )

    def handle(self, *args, **options):
        modes.require(modes.Mode.BRANCH)
        try:
            path = branch_backup_create()
        except (BackupError, OSError) as error:
            raise CommandError(f"backup failed: {error}") from error
        self.stdout.write(f"backup: {path} ({path.stat().st_size} bytes); {len(branch_backups())} kept")
        try:
            copied = branch_backup_offbox(backup=path)
        except BackupError as error:
            raise CommandError(f"backup taken, but not copied off the box: {error}") from error
        self.stdout.write(
            "copied off the box" if copied else "not copied off the box: no BACKUP_COPY_TO or BACKUP_COPY_COMMAND"
        )
