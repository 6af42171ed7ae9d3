from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ecomarket.roles import Role, staff_user_create


class Command(BaseCommand):
    help = (
        "Create a staff user with a role (cashier or manager) and print its new API token once. Safe to run again; "
        "--rotate-token issues a new token."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=[role.value for role in Role], required=True)
        parser.add_argument("--password", help="also allow web login (admin, POS page) with this password")
        parser.add_argument("--superuser", action="store_true", help="full admin rights (the chain's operator)")
        parser.add_argument("--rotate-token", action="store_true", help="issue a new API token (the old one stops)")

    def handle(self, *args, username, role, password, superuser, rotate_token, **options):
        try:
            user, token = staff_user_create(
                username=username, role=Role(role), password=password, superuser=superuser, rotate_token=rotate_token
            )
        except ValidationError as refusal:
            raise CommandError("password refused: " + " ".join(refusal.messages)) from refusal
        self.stdout.write(f"user: {user.username} role: {role}")
        if token:
            self.stdout.write(f"token: {token}")
            self.stdout.write("Keep it now: only a hash is stored, it is not shown again.")
        else:
            self.stdout.write("token: unchanged (only its hash is stored; --rotate-token issues a new one)")
