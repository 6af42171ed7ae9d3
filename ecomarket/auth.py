"""Staff API tokens, stored hashed (see StaffToken): issued, rotated and revoked here, by ``create_staff`` and
from the user's admin page alike, with an optional expiry (``STAFF_TOKEN_MAX_AGE_DAYS``). Branch credentials are
central's and have their own rotation (branches/credentials.py, ``register_branch``)."""

import hashlib
import secrets
from datetime import timedelta
from functools import cache

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from ecomarket.models import StaffToken


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def staff_token_issue(*, user) -> str:
    """Issue a new token for ``user``, replacing any older one (which stops working at once), and return it: the
    only time it is visible. It expires ``STAFF_TOKEN_MAX_AGE_DAYS`` from now, or never when that is 0."""
    key = secrets.token_hex(20)
    days = settings.STAFF_TOKEN_MAX_AGE_DAYS
    StaffToken.objects.filter(user=user).delete()
    StaffToken.objects.create(
        user=user, key_hash=token_hash(key), expires_at=timezone.now() + timedelta(days=days) if days > 0 else None
    )
    return key


def staff_token_revoke(*, user) -> bool:
    """Retire ``user``'s token, if it has one; True when one was retired. Idempotent."""
    deleted, _ = StaffToken.objects.filter(user=user).delete()
    return deleted > 0


class HashedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, looked up by the key's SHA-256."""

    def authenticate_credentials(self, key):
        """One plain query for the token, its user and the user's roles: every POS request pays for this, and
        through the ORM (token + user, then the groups for the role check) it cost more than the sale's own reads.
        The user comes back with the fields a request uses loaded; any other field loads on first access."""
        user_model = get_user_model()
        sql, names, active = _token_query(connection.vendor)
        with connection.cursor() as cursor:
            cursor.execute(sql, [token_hash(key), connection.ops.adapt_datetimefield_value(timezone.now())])
            rows = cursor.fetchall()
        if not rows or not rows[0][active]:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        user = user_model.from_db(connection.alias, names, rows[0][: len(names)])
        user._role_names = {row[-1] for row in rows if row[-1]}  # read by ecomarket.roles.user_has_role
        return user, StaffToken(key_hash=token_hash(key), user=user)


@cache
def _token_query(vendor: str) -> tuple[str, list[str], int]:
    """The token lookup's SQL, the user columns it reads (in the model's field order, as ``from_db`` takes them)
    and the position of ``is_active``: built once per process, not per request."""
    user_model = get_user_model()
    wanted = {"id", "username", "is_active", "is_staff", "is_superuser"}
    names = [field.attname for field in user_model._meta.concrete_fields if field.attname in wanted]
    tables = {
        "token": StaffToken._meta.db_table,
        "user": user_model._meta.db_table,
        "user_groups": user_model.groups.through._meta.db_table,
        "group": Group._meta.db_table,
    }
    quoted = {name: connection.ops.quote_name(table) for name, table in tables.items()}
    sql = (
        f"SELECT {', '.join('u.' + connection.ops.quote_name(n) for n in names)}, g.name "
        f"FROM {quoted['token']} t JOIN {quoted['user']} u ON u.id = t.user_id "
        f"LEFT JOIN {quoted['user_groups']} ug ON ug.user_id = u.id "
        f"LEFT JOIN {quoted['group']} g ON g.id = ug.group_id "
        "WHERE t.key_hash = %s AND (t.expires_at IS NULL OR t.expires_at > %s)"
    )
    return sql, names, names.index("is_active")


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check for login forms, which always pass the request. A login made without one (the
    test client's ``login()``, a script) comes from no address and no form, so there is nothing to throttle: it
    is left to the next backend instead of refused outright as axes would."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
