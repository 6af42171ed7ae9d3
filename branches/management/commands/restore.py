from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from branches import recovery
from branches.backup import BackupError, branch_backup_restore
from branches.central_client import CentralUnavailable, sync_lock
from branches.models import RecoveryState, SyncState
from ecomarket import modes


class Command(BaseCommand):
    help = (
        "Branch: put a backup back as the branch database (stop the branch's server, worker and beat first) and "
        "ask central what the store did after the backup: new sales then take seqs and numbers above it, so the "
        "tills can sell at once while the worker replays it (sync/status shows the progress). --wait replays it "
        "here, with a progress bar, before returning."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="a backup written by manage.py backup")
        parser.add_argument("--wait", action="store_true", help="replay central's events before returning")

    def handle(self, *args, file, wait, **options):
        modes.require(modes.Mode.BRANCH)
        try:
            kept = branch_backup_restore(source=file)
        except (BackupError, OSError) as error:
            raise CommandError(f"restore failed: {error}") from error
        self.stdout.write(f"restored {file}" + (f"; the replaced database is kept as {kept}" if kept else ""))
        call_command("migrate", "--no-input", verbosity=0)
        # Whatever happens next, the first push asks central before it sends anything.
        SyncState.objects.update_or_create(pk=1, defaults={"recovery_state": RecoveryState.CHECK})
        recover_from_central(self, replay=wait)


def recover_from_central(command: BaseCommand, *, replay: bool = True) -> None:
    """Run the recovery now with a progress bar; if central cannot be reached, say what happens instead."""
    bar = tqdm(total=0, unit="seq", desc="recover", file=command.stderr._out)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        with sync_lock("push") as ours:
            if not ours:
                raise CommandError("a push is running: stop the branch's worker first")
            summary = recovery.recovery_run(progress=progress, replay=replay)
    except CentralUnavailable as error:
        command.stderr.write(
            f"central unreachable ({error}): the branch will recover when it reaches central, before its first "
            "push. Tills may sell meanwhile; a sale number central already holds is then moved above it."
        )
        return
    except recovery.RecoveryError as error:
        recovery.recovery_failed(error=str(error))
        raise CommandError(f"recovery stopped: {error}") from error
    finally:
        bar.close()
    if summary.recovering and not replay:
        command.stdout.write(
            f"central holds events up to seq {summary.target_seq} this database lacks: new events take seqs above "
            "it; start the branch, its worker replays them (sync/status: recovery_state, recovery_progress)"
        )
    elif summary.recovering:
        command.stdout.write(
            f"recovered from central: {summary.replayed} event(s) replayed up to seq {summary.target_seq}, "
            f"{summary.renumbered} local event(s) renumbered"
        )
    else:
        command.stdout.write("central holds nothing this database lacks")
