"""Staff roles. A role is a Django group; a manager can do everything a cashier can."""

from enum import StrEnum

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import Q
from rest_framework.permissions import BasePermission

from ecomarket.auth import staff_token_issue
from ecomarket.models import StaffToken


class Role(StrEnum):
    CASHIER = "cashier"
    MANAGER = "manager"


def user_has_role(user, role: Role) -> bool:
    if not user or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    names = getattr(user, "_role_names", None)  # read together with the API token (ecomarket.auth)
    if names is None:
        names = {group.name for group in user.groups.all()}
    return role.value in names or (role == Role.CASHIER and Role.MANAGER.value in names)


@transaction.atomic
def staff_user_create(
    *, username: str, role: Role, password: str | None = None, superuser: bool = False, rotate_token: bool = False
) -> tuple:
    """Create (or update the role of) a staff user and return ``(user, token)``. ``token`` is the new API token
    when one is issued (a new user, or ``rotate_token``), else None: only a hash is stored, so an existing token
    cannot be shown again. Safe to run again: the user, its token and its password stay unless asked to change.
    A password the validators refuse raises Django's ``ValidationError`` and nothing is written."""
    user, created = get_user_model().objects.get_or_create(username=username)
    if password:
        validate_password(password, user)  # AUTH_PASSWORD_VALIDATORS; a refusal rolls the new user back too
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    # Managers use Django admin at their store; cashiers only the POS.
    user.is_staff = role == Role.MANAGER or superuser
    user.is_superuser = superuser
    user.save()
    group, _ = Group.objects.get_or_create(name=role.value)
    if role == Role.MANAGER:
        group.permissions.set(_manager_permissions())
    user.groups.set([group])
    token = staff_token_issue(user=user) if rotate_token or not StaffToken.objects.filter(user=user).exists() else None
    return user, token


def _manager_permissions():
    """A store manager sees every sales and stock record in admin; at head office a manager also keeps the catalog
    and prices. What would break the ledger stays read-only in admin whatever the permission says."""
    from django.conf import settings

    view = Q(content_type__app_label__in=["inventory", "branches", "reconciliation"], codename__startswith="view_")
    if settings.IS_CENTRAL:
        view |= Q(content_type__app_label="inventory", codename__in=["add_product", "change_product"])
    return Permission.objects.filter(view)


class IsCashier(BasePermission):
    """Cashiers and managers: selling, returns, receipts, counts, reading stock."""

    message = "This needs a cashier or manager account."

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, Role.CASHIER)


class IsManager(BasePermission):
    """Managers only: voids and anything that rewrites what a cashier did."""

    message = "This needs a manager account."

    def has_permission(self, request, view) -> bool:
        return user_has_role(request.user, Role.MANAGER)
