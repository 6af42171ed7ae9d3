from django.core.management.base import BaseCommand, CommandError

from branches.backup import BackupError, branch_backup_create, branch_backups
from ecomarket import modes


class Command(BaseCommand):
    help = (
        "Branch: take an online, consistent copy of the branch database into BACKUP_DIR (tills keep selling) and "
        "keep the newest BACKUP_KEEP."
    )

    def handle(self, *args, **options):
        modes.require(modes.Mode.BRANCH)
        try:
            path = branch_backup_create()
        except (BackupError, OSError) as error:
            raise CommandError(f"backup failed: {error}") from error
        self.stdout.write(f"backup: {path} ({path.stat().st_size} bytes); {len(branch_backups())} kept")
