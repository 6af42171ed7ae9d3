"""Deployment modes: one codebase, a branch store server or head office (docs/architecture.md).

The mode is read once from ``ECOMARKET_MODE`` when the settings load; any other value refuses to start. There is one
way to ask it: ``settings.IS_BRANCH`` / ``settings.IS_CENTRAL`` (``settings.ECOMARKET_MODE`` for its name), read where
what is installed, routed and scheduled is decided, and at call time elsewhere. A service that only makes sense in
one mode is decorated with :func:`only`, which asks at every call (the way Sentry gates by silo mode), so a misrouted
call fails loudly.
"""

import functools
from enum import StrEnum

from django.conf import settings  # lazy: the settings module imports this one, and reads none of it here
from django.core.exceptions import ImproperlyConfigured


class Mode(StrEnum):
    BRANCH = "branch"
    CENTRAL = "central"


def mode_parse(value: str | None) -> Mode:
    """Turn the ``ECOMARKET_MODE`` value into a Mode, or refuse with a message an operator can act on."""
    try:
        return Mode((value or "").strip().lower())
    except ValueError:
        raise ImproperlyConfigured(
            f"ECOMARKET_MODE must be 'branch' or 'central', got {value!r}. "
            "Set it in the environment (see .env.example): a branch store server sells and keeps local stock; "
            "central is head office."
        ) from None


def require(mode: Mode) -> None:
    """Fail loudly when code meant for one mode runs in the other."""
    if mode != settings.ECOMARKET_MODE:
        raise RuntimeError(f"this code runs only in {mode} mode, not in {settings.ECOMARKET_MODE} mode")


def only(mode: Mode):
    """Decorator for a service that makes sense in one mode only: every call checks the mode first (Sentry's silo
    limits), so a branch function called at central, or the other way round, fails loudly instead of writing."""

    def decorate(function):
        @functools.wraps(function)
        def gated(*args, **kwargs):
            require(mode)
            return function(*args, **kwargs)

        return gated

    return decorate
