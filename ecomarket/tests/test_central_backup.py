"""Head office's backup, drilled against the real PostgreSQL: dump the test database with ``central_backup``,
restore the dump into a new database with ``pg_restore``, and run central's code on it (its migrations are all
applied there and it reads the branch it held); older dumps beyond BACKUP_KEEP go."""

import subprocess
import uuid

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command

from branches.credentials import branch_register
from harness.processes import Node

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db(transaction=True)]


def _admin_url() -> str:
    database = settings.DATABASES["default"]
    return f"postgresql://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/postgres"


@pytest.fixture
def restored_database():
    name = f"ecm_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(_admin_url(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_dump_restores_into_a_new_database_that_central_runs_on(settings, tmp_path, restored_database):
    settings.BACKUP_DIR = tmp_path
    branch_register(code="B042", name="Sucursal 42")

    call_command("central_backup")

    (dump,) = tmp_path.glob("central-*.dump")
    url = _admin_url().rsplit("/", 1)[0] + f"/{restored_database}"
    subprocess.run(["pg_restore", "--no-owner", "--dbname", url, str(dump)], check=True, capture_output=True)
    central = Node(mode="central", data_dir=tmp_path / "restored", env={"DATABASE_URL": url})
    assert "[ ]" not in central.manage("showmigrations", "--list")
    read = "from branches.models import Branch; print('held:', *Branch.objects.values_list('code', flat=True))"
    assert "held: B042" in central.manage("shell", "-c", read)


def test_only_the_newest_backup_keep_dumps_stay(settings, tmp_path):
    settings.BACKUP_DIR, settings.BACKUP_KEEP = tmp_path, 2
    for _ in range(3):
        call_command("central_backup")

    assert len(list(tmp_path.glob("central-*.dump"))) == 2
    assert not list(tmp_path.glob(".*partial"))
