"""Deployment modes: one codebase, a branch store server or head office (docs/architecture.md).

The mode is read once from ``ECOMARKET_MODE``; anything else refuses to start. Code that only makes sense in one
mode asks :func:`current` at call time (the way Sentry gates by silo mode), so a misrouted call fails loudly.
"""

import functools
from enum import StrEnum

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


def current() -> Mode:
    from django.conf import settings

    return Mode(settings.ECOMARKET_MODE)


def require(mode: Mode) -> None:
    """Fail loudly when code meant for one mode runs in the other."""
    if current() != mode:
        raise RuntimeError(f"this code runs only in {mode} mode, not in {current()} mode")


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
