from django.core.management.base import BaseCommand

from ecomarket.roles import Role, staff_user_create


class Command(BaseCommand):
    help = "Create a staff user with a role (cashier or manager) and print its API token. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=[role.value for role in Role], required=True)
        parser.add_argument("--password", help="also allow web login (admin, POS page) with this password")
        parser.add_argument("--superuser", action="store_true", help="full admin rights (the chain's operator)")

    def handle(self, *args, username, role, password, superuser, **options):
        user, token = staff_user_create(username=username, role=Role(role), password=password, superuser=superuser)
        self.stdout.write(f"user: {user.username} role: {role}")
        self.stdout.write(f"token: {token}")
