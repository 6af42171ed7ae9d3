"""Every model change has its migration, in each mode (the models installed differ between them)."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_and_their_migrations_agree():
    out = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as missing:
        pytest.fail(f"a model change has no migration (exit {missing.code}):\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()
