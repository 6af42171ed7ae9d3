import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ecomarket.roles import Role, staff_user_create


class Command(BaseCommand):
    help = (
        "Create a staff user with a role (cashier or manager) and print its new API token once. A new user without "
        "--password gets a generated one, printed once. Safe to run again: the password and the token stay; "
        "--rotate-token issues a new token, `changepassword` sets a new password."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=[role.value for role in Role], required=True)
        parser.add_argument("--password", help="the web login's password (admin, POS page); default: generated")
        parser.add_argument(
            "--no-password", action="store_true", help="API token only: a new user gets no web login at all"
        )
        parser.add_argument("--superuser", action="store_true", help="full admin rights (the chain's operator)")
        parser.add_argument("--rotate-token", action="store_true", help="issue a new API token (the old one stops)")

    def handle(self, *args, username, role, password, no_password, superuser, rotate_token, **options):
        if password and no_password:
            raise CommandError("--password and --no-password exclude each other")
        # A person following the install must be able to log in with what this printed: an unusable password
        # left a new cashier locked out of the POS page with no hint why.
        generated = None
        if not password and not no_password and not get_user_model().objects.filter(username=username).exists():
            password = generated = secrets.token_urlsafe(12)
        try:
            user, token = staff_user_create(
                username=username, role=Role(role), password=password, superuser=superuser, rotate_token=rotate_token
            )
        except ValidationError as refusal:
            raise CommandError("password refused: " + " ".join(refusal.messages)) from refusal
        self.stdout.write(f"user: {user.username} role: {role}")
        if generated:
            self.stdout.write(f"password: {generated}")
        if token:
            self.stdout.write(f"token: {token}")
        if generated or token:
            self.stdout.write("Keep it now: only a hash is stored, it is not shown again.")
        if not token:
            self.stdout.write("token: unchanged (only its hash is stored; --rotate-token issues a new one)")
