from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from branches.models import OutboxEvent, OutboxState
from branches.pull import changes_pull
from branches.push import outbox_push
from branches.sync_status import sync_status
from ecomarket import modes


class Command(BaseCommand):
    help = "Branch: push every pending outbox event to central now (ignoring backoff), then pull the change feed."

    def handle(self, *args, **options):
        modes.require(modes.Mode.BRANCH)
        pending = OutboxEvent.objects.filter(state=OutboxState.PENDING).count()
        with tqdm(total=pending, unit="event", desc="push", file=self.stderr._out) as bar:
            pushed = outbox_push(force=True, progress=bar.update)
        pulled = changes_pull()
        self.stdout.write(
            f"push: sent {pushed.sent} in {pushed.batches} batch(es), delivered {pushed.delivered}, "
            f"duplicates {pushed.duplicates}, parked {pushed.parked}, re-queued as missing {pushed.resent}, "
            f"central high water {pushed.high_water_seq}"
        )
        self.stdout.write(
            f"pull: applied {pulled.applied} change(s) {pulled.kinds or ''}, already applied {pulled.already_applied}, "
            f"could not apply {pulled.failed} (skipped, reported to central)"
            + (", started over from 0: central no longer holds the cursor" if pulled.resyncs else "")
        )
        status = sync_status()
        self.stdout.write(f"pending now: {status['pending_events']}, parked: {status['parked_events']}")
        for problem in (pushed.skipped, pushed.error, pulled.skipped, pulled.error):
            if problem:
                self.stderr.write(problem)
        if pushed.error or pulled.error:
            raise CommandError("central unavailable; events stay queued and will be pushed by the sweep")
