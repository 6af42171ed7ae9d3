from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from branches import recovery
from branches.central_client import CentralUnavailable
from branches.management.commands.restore import recover_from_central
from branches.models import OutboxEvent, RecoveryState, SyncState
from branches.pull import changes_pull
from branches.sync_status import sync_state
from ecomarket import modes
from inventory.models import Product


class Command(BaseCommand):
    help = (
        "Branch: rebuild a new, empty box from central: the catalog, transfers and recount requests from the change "
        "feed up to where the lost box had applied it, then every event this branch delivered, replayed with its "
        "original ids, seqs and sale numbers, which rebuilds sales, documents and on-hand; then a pull applies what "
        "the feed holds for the branch after that point (once: what a replayed event already carries is skipped). "
        "Staff accounts are not at central: create them again with create_staff."
    )

    def handle(self, *args, **options):
        modes.require(modes.Mode.BRANCH)
        call_command("migrate", "--no-input", verbosity=0)
        if OutboxEvent.objects.exists():
            raise CommandError(
                "this database already holds events; restore_from_central only fills an empty one "
                "(a branch restored from a backup recovers the rest by itself: manage.py restore FILE)"
            )
        sync_state()
        try:
            with tqdm(unit="product", desc="catalog", file=self.stderr._out) as bar:
                start = recovery.catalog_restore(progress=bar.update)
            with tqdm(total=start, unit="change", desc="change feed", file=self.stderr._out) as bar:
                applied = recovery.feed_history_apply(until=start, progress=bar.update)
        except (CentralUnavailable, recovery.RecoveryError) as error:
            raise CommandError(f"could not read the catalog or change feed from central: {error}") from error
        self.stdout.write(
            f"catalog: {Product.objects.count()} products; {applied} transfer(s) and recount request(s); "
            f"change feed cursor {sync_state().pull_cursor}"
        )
        SyncState.objects.filter(pk=1).update(recovery_state=RecoveryState.CHECK)
        recover_from_central(self)
        if sync_state().recovery_state != RecoveryState.IDLE:
            raise CommandError("the branch is not rebuilt yet (see above); run the command again")
        pulled = changes_pull()
        self.stdout.write(
            f"change feed after the lost box's last pull: applied {pulled.applied} {pulled.kinds or ''}, "
            f"already applied {pulled.already_applied}, could not apply {pulled.failed}; "
            f"cursor {sync_state().pull_cursor}"
        )
        if pulled.error or pulled.skipped:
            # Not fatal: the worker's pulls take the rest, from the cursor set above.
            self.stderr.write(f"the change feed was not pulled to its end: {pulled.error or pulled.skipped}")
        last = OutboxEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        self.stdout.write(f"rebuilt: events up to seq {last}; the next one takes {last + 1}")
