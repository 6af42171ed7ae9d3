from django.core.management.base import BaseCommand, CommandError

from branches.credentials import branch_credential_revoke, branch_register
from branches.models import Branch
from ecomarket import modes


class Command(BaseCommand):
    help = (
        "Central: register a branch (or rotate its credential) and print the new credential once; "
        "only its hash is stored. A rotated credential keeps working for BRANCH_CREDENTIAL_GRACE_S (--grace-s), so "
        "the store switches without its sync stopping. --revoke disables the branch's credential at once. Several "
        "codes register (or revoke) several branches in one run, e.g. a whole chain for the scale benchmark."
    )

    def add_arguments(self, parser):
        parser.add_argument("codes", nargs="+", metavar="code")
        parser.add_argument("--name", default="")
        parser.add_argument("--revoke", action="store_true", help="revoke the current credential, issue none")
        parser.add_argument(
            "--grace-s",
            type=float,
            default=None,
            help="seconds the replaced credential keeps working (default BRANCH_CREDENTIAL_GRACE_S; 0: stops now)",
        )

    def handle(self, *args, codes, name, revoke, grace_s, **options):
        modes.require(modes.Mode.CENTRAL)
        if grace_s is not None and grace_s < 0:
            raise CommandError("--grace-s must be 0 or more")
        for code in codes:
            self._one(code=code, name=name, revoke=revoke, grace_s=grace_s)
        if not revoke:
            self.stdout.write("Store each in its branch's BRANCH_CREDENTIAL; it is not shown again.")

    def _one(self, *, code, name, revoke, grace_s):
        if revoke:
            try:
                branch_credential_revoke(code=code)
            except Branch.DoesNotExist:
                raise CommandError(f"no branch {code}") from None
            self.stdout.write(f"credential of {code} revoked")
            return
        branch, credential = branch_register(code=code, name=name, grace_s=grace_s)
        self.stdout.write(f"branch: {branch.code} {branch.name}")
        self.stdout.write(f"credential: {credential}")
        if branch.previous_credential_valid_until:
            self.stdout.write(
                f"the previous credential works until {branch.previous_credential_valid_until:%Y-%m-%d %H:%M %Z}"
            )
