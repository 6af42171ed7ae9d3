from django.core.management.base import BaseCommand
from tqdm import tqdm

from branches.models import Branch
from ecomarket.modes import Mode, only
from reconciliation.services import reconcile


class Command(BaseCommand):
    help = "Central: run one reconciliation pass now (incremental unless --full), with a progress bar and a summary."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="re-check every branch and SKU, not only what changed")

    @only(Mode.CENTRAL)
    def handle(self, *args, full, **options):
        with tqdm(total=Branch.objects.count(), unit="branch", desc="reconcile", file=self.stderr._out) as bar:
            run = reconcile(full=full, progress=lambda code: bar.update(1))
        if run is None:
            self.stdout.write("another pass is running: nothing done (a --full pass waits for it instead)")
            return
        summary = run.summary
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"{'full' if run.full else 'incremental'} pass over {summary['branches_checked']} branch(es) "
            f"in {seconds:.2f} s"
        )
        for code, error in sorted(summary["failed"].items()):
            self.stdout.write(f"check of {code} failed: {error}")
        for label in ("opened", "updated", "auto_resolved"):
            counts = summary[label]
            self.stdout.write(f"{label}: " + (", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "none"))
        self.stdout.write(
            f"resend requests: {summary['resend_requests']}; oversell cases opened: "
            f"{summary['oversell_cases_opened']}, updated: {summary['oversell_cases_updated']}"
        )
