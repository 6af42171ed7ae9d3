"""Central side: branch credentials. A credential is a random secret shown once; only its SHA-256 is stored (the
secret has 256 bits of entropy, so a slow password hash would only slow ingestion, not an attacker)."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission

from branches.models import Branch
from ecomarket.modes import Mode, only

PREFIX = "ecb_"


def credential_hash(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


@only(Mode.CENTRAL)
@transaction.atomic
def branch_register(*, code: str, name: str = "", grace_s: float | None = None) -> tuple[Branch, str]:
    """Create a branch (or update its name) and issue a new credential, returned once. The credential in force
    until now keeps working for ``grace_s`` more seconds (BRANCH_CREDENTIAL_GRACE_S by default; 0: it stops at once),
    so the store can be switched to the new one while its sync goes on; one that was revoked never comes back, and
    a credential an earlier rotation left in grace stops now. Returns ``(branch, credential)``."""
    grace_s = settings.BRANCH_CREDENTIAL_GRACE_S if grace_s is None else grace_s
    Branch.objects.get_or_create(code=code, defaults={"name": name or code})
    # Under the row's lock and by named fields: ingestion and pulls write the branch's bookkeeping meanwhile.
    branch = Branch.objects.select_for_update().get(code=code)
    fields = [
        "credential_hash",
        "credential_issued_at",
        "revoked_at",
        "previous_credential_hash",
        "previous_credential_valid_until",
    ]
    if name:
        branch.name = name
        fields.append("name")
    now = timezone.now()
    in_force = branch.credential_hash and branch.revoked_at is None
    if in_force and grace_s > 0:
        branch.previous_credential_hash = branch.credential_hash
        branch.previous_credential_valid_until = now + timedelta(seconds=grace_s)
    else:
        branch.previous_credential_hash, branch.previous_credential_valid_until = "", None
    credential = f"{PREFIX}{secrets.token_urlsafe(32)}"
    branch.credential_hash = credential_hash(credential)
    branch.credential_issued_at = now
    branch.revoked_at = None
    branch.save(update_fields=fields)
    return branch, credential


@only(Mode.CENTRAL)
@transaction.atomic
def branch_credential_revoke(*, code: str) -> Branch:
    """Stop the branch's credential at once, and one a rotation left in its grace period too."""
    branch = Branch.objects.select_for_update().get(code=code)
    branch.credential_hash = ""
    branch.previous_credential_hash, branch.previous_credential_valid_until = "", None
    branch.revoked_at = timezone.now()
    branch.save(
        update_fields=["credential_hash", "revoked_at", "previous_credential_hash", "previous_credential_valid_until"]
    )
    return branch


def branch_by_credential(credential: str) -> Branch | None:
    """The branch this credential is in force for: its current one, or the one a rotation replaced while its grace
    period lasts; None for an unknown, expired or revoked credential. The current one is asked first, on its own,
    so a push costs the one indexed lookup it always did."""
    digest = credential_hash(credential)
    live = Branch.objects.filter(revoked_at__isnull=True)
    branch = live.filter(credential_hash=digest).first()
    if branch is None:
        branch = live.filter(
            previous_credential_hash=digest, previous_credential_valid_until__gt=timezone.now()
        ).first()
    return branch


@only(Mode.CENTRAL)
def branch_version_record(*, branch: Branch, version: str) -> bool:
    """Keep the release ``branch`` named on a request (``''``: none) if it is not the one kept; whether it wrote.
    Idempotent. Only when it changed, so a store's pulls do not queue for the row lock its pushes take, and by
    that one column: ingestion writes the branch's bookkeeping meanwhile, and an instance read at authentication
    must not put older values back."""
    if branch.software_version == version:
        return False
    branch.software_version = version
    branch.save(update_fields=["software_version"])
    return True


# A measured skew that moved less than this is not written again: a push does not queue for the row lock over noise.
CLOCK_SKEW_WRITE_STEP_S = 1.0


@only(Mode.CENTRAL)
def branch_clock_skew_record(*, branch: Branch, skew_s: float | None) -> bool:
    """Keep the clock skew a push of ``branch`` showed (None: the push named no clock, nothing kept) if it moved by
    ``CLOCK_SKEW_WRITE_STEP_S`` or more from the one kept; whether it wrote. Idempotent, and by that one column, as
    :func:`branch_version_record`."""
    if skew_s is None:
        return False
    if branch.clock_skew_s is not None and abs(branch.clock_skew_s - skew_s) < CLOCK_SKEW_WRITE_STEP_S:
        return False
    branch.clock_skew_s = skew_s
    branch.save(update_fields=["clock_skew_s"])
    return True


class BranchPrincipal:
    """``request.user`` for a request made with a branch credential."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False

    def __init__(self, branch: Branch) -> None:
        self.branch = branch
        self.username = f"branch:{branch.code}"
        self.pk = None
        self.groups = _NoGroups()

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username


class _NoGroups:
    def all(self):
        return []


class BranchCredentialAuthentication(authentication.BaseAuthentication):
    """``Authorization: Branch <credential>``. A revoked, unknown or expired credential is 401 (the one a rotation
    replaced works until its grace period ends).

    Central's admission (branches/admission.py) authenticates a sync request before it takes a slot; the identity
    is kept on the request, so the view does not look the credential up a second time."""

    keyword = "Branch"

    def authenticate(self, request):
        underlying = getattr(request, "_request", request)  # DRF's Request wraps Django's
        identity = getattr(underlying, "branch_identity", None)
        if identity is None:
            identity = underlying.branch_identity = self._identity(request)
        return identity

    def _identity(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Branch credential header must be 'Branch <credential>'.")
        credential = header[1].decode(errors="replace")
        branch = branch_by_credential(credential)
        if branch is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked branch credential.")
        return BranchPrincipal(branch), branch

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsBranch(BasePermission):
    message = "This needs a branch credential."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Branch)


class BranchCredentialScheme(OpenApiAuthenticationExtension):
    target_class = BranchCredentialAuthentication
    name = "branchCredential"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Branch <credential>`, printed once by `manage.py register_branch`.",
        }
