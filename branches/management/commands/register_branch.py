from django.core.management.base import BaseCommand, CommandError

from branches.credentials import branch_credential_revoke, branch_register
from branches.models import Branch
from ecomarket import modes


class Command(BaseCommand):
    help = (
        "Central: register a branch (or rotate its credential) and print the new credential once; "
        "only its hash is stored. --revoke disables the branch's credential. Several codes register (or revoke) "
        "several branches in one run, e.g. a whole chain for the scale benchmark."
    )

    def add_arguments(self, parser):
        parser.add_argument("codes", nargs="+", metavar="code")
        parser.add_argument("--name", default="")
        parser.add_argument("--revoke", action="store_true", help="revoke the current credential, issue none")

    def handle(self, *args, codes, name, revoke, **options):
        modes.require(modes.Mode.CENTRAL)
        for code in codes:
            self._one(code=code, name=name, revoke=revoke)
        if not revoke:
            self.stdout.write("Store each in its branch's BRANCH_CREDENTIAL; it is not shown again.")

    def _one(self, *, code, name, revoke):
        if revoke:
            try:
                branch_credential_revoke(code=code)
            except Branch.DoesNotExist:
                raise CommandError(f"no branch {code}") from None
            self.stdout.write(f"credential of {code} revoked")
            return
        branch, credential = branch_register(code=code, name=name)
        self.stdout.write(f"branch: {branch.code} {branch.name}")
        self.stdout.write(f"credential: {credential}")
