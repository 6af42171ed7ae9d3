"""Staff API tokens, stored hashed (see StaffToken): issued, rotated and revoked here, by ``create_staff`` and
from the user's admin page alike, with an optional expiry (``STAFF_TOKEN_MAX_AGE_DAYS``). Branch credentials are
central's and have their own rotation (branches/credentials.py, ``register_branch``)."""

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from functools import cache

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from ecomarket import generations
from ecomarket.models import StaffToken

# token hash -> (the user's columns, their role names, the token's expiry), valid for _tokens_generation only
_tokens: dict[str, tuple[tuple, set[str], object]] = {}
_tokens_generation = generations.UNTRACKED
TOKENS_KEPT = 4096  # more distinct tokens than a store or head office has: the cache starts over past it


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
        """Each token is looked up once per process and kept (``_tokens``); every request reads the ``auth``
        generation (ecomarket/generations.py), which any write to a token, a user's standing or their roles
        changes in its own transaction, so a revoked token is refused on the next request. The expiry is checked
        by the clock on every request. The lookup is one plain query for the token, its user and the user's roles
        (through the ORM it cost more than the sale's own reads); the user comes back with the fields a request uses
        loaded, any other field on first access."""
        global _tokens_generation
        hashed = token_hash(key)
        current = generations.generation("auth")
        if current != _tokens_generation or current is generations.UNTRACKED:
            _tokens.clear()
            _tokens_generation = current
        kept = _tokens.get(hashed)
        if kept is None:
            kept = _token_lookup(hashed)
            if kept is not None and current is not generations.UNTRACKED:
                if len(_tokens) >= TOKENS_KEPT:
                    _tokens.clear()
                _tokens[hashed] = kept
        _, names, active = _token_query(connection.vendor)
        now = timezone.now()
        if kept is None or not kept[0][active] or (kept[2] is not None and kept[2] <= now):
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        columns, roles, expires_at = kept
        user = get_user_model().from_db(connection.alias, names, columns)
        user._role_names = set(roles)  # read by ecomarket.roles.user_has_role
        return user, StaffToken(key_hash=hashed, user=user, expires_at=expires_at)


def _token_lookup(hashed: str) -> tuple[tuple, set[str], object] | None:
    """The user's columns, role names and the token's expiry for the token hashed ``hashed``, or None."""
    sql, names, _ = _token_query(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [hashed])
        rows = cursor.fetchall()
    if not rows:
        return None
    expires_at = rows[0][len(names)]
    if expires_at is not None and not isinstance(expires_at, datetime):
        expires_at = StaffToken._meta.get_field("expires_at").to_python(expires_at)
    if expires_at is not None and timezone.is_naive(expires_at):
        expires_at = timezone.make_aware(expires_at, UTC)
    return tuple(rows[0][: len(names)]), {row[-1] for row in rows if row[-1]}, expires_at


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
        f"SELECT {', '.join('u.' + connection.ops.quote_name(n) for n in names)}, t.expires_at, g.name "
        f"FROM {quoted['token']} t JOIN {quoted['user']} u ON u.id = t.user_id "
        f"LEFT JOIN {quoted['user_groups']} ug ON ug.user_id = u.id "
        f"LEFT JOIN {quoted['group']} g ON g.id = ug.group_id "
        "WHERE t.key_hash = %s"
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
