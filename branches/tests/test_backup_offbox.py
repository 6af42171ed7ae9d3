"""Each branch backup is copied off the box (a folder on a mounted share, or the operator's command), and /metrics
gives the age of the newest backup and of the newest copied off the box: +Inf when there is none, so the alert
fires on a box that never took one."""

import math
import sys

import pytest
from django.test import override_settings

from branches.backup import BackupError, branch_backup_create, branch_backup_offbox, branch_backups
from branches.tasks import branch_backup_task
from ecomarket.tests.test_metrics import LOOPBACK, scrape, value

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


@pytest.fixture
def folders(tmp_path):
    backups, share = tmp_path / "backups", tmp_path / "share"
    with override_settings(BACKUP_DIR=backups, BACKUP_COPY_TO="", BACKUP_COPY_COMMAND="", BACKUP_KEEP=2):
        yield backups, share


def test_a_backup_is_copied_whole_into_the_share_keeping_the_newest_backup_keep(shelf, folders):
    _, share = folders
    with override_settings(BACKUP_COPY_TO=str(share)):
        made = []
        for _ in range(3):
            made.append(branch_backup_create())
            assert branch_backup_offbox(backup=made[-1])

    assert sorted(path.name for path in share.iterdir()) == [backup.name for backup in made[1:]]
    assert (share / made[-1].name).read_bytes() == made[-1].read_bytes()


def test_the_command_gets_the_backups_path_where_it_names_it(shelf, folders, tmp_path):
    target = tmp_path / "remote"
    target.mkdir()
    copy = f"{sys.executable} -c 'import shutil, sys; shutil.copy(sys.argv[1], sys.argv[2])' {{path}} {target}"
    with override_settings(BACKUP_COPY_COMMAND=copy):
        backup = branch_backup_create()
        assert branch_backup_offbox(backup=backup)

    assert (target / backup.name).read_bytes() == backup.read_bytes()


@override_settings(**LOOPBACK.options)
def test_a_failing_command_raises_and_the_off_box_age_keeps_the_last_copy(shelf, folders):
    with override_settings(BACKUP_COPY_COMMAND=f"{sys.executable} -c 'import sys; sys.exit(3)'"):
        with pytest.raises(BackupError, match="exited 3"):
            branch_backup_offbox(backup=branch_backup_create())
        samples = scrape()

    assert value(samples, "ecomarket_backup_offbox_configured") == 1
    assert value(samples, "ecomarket_backup_offbox_age_seconds") == math.inf
    assert value(samples, "ecomarket_backup_age_seconds") < 3600


def test_the_scheduled_task_keeps_the_backup_when_its_copy_fails(shelf, folders):
    with override_settings(BACKUP_COPY_COMMAND="/nonexistent/copy-tool"):
        written = branch_backup_task()

    assert [str(path) for path in branch_backups()] == [written]


@override_settings(**LOOPBACK.options)
def test_metrics_give_an_infinite_age_with_no_backup_and_a_real_one_after(shelf, folders):
    _, share = folders
    with override_settings(BACKUP_COPY_TO=str(share)):
        before = scrape()
        branch_backup_task()
        after = scrape()

    assert value(before, "ecomarket_backup_age_seconds") == math.inf
    assert value(before, "ecomarket_backup_offbox_age_seconds") == math.inf
    assert 0 <= value(after, "ecomarket_backup_age_seconds") < 3600
    assert 0 <= value(after, "ecomarket_backup_offbox_age_seconds") < 3600


@override_settings(**LOOPBACK.options)
def test_a_box_copying_nowhere_says_so(shelf, folders):
    samples = scrape()

    assert value(samples, "ecomarket_backup_offbox_configured") == 0
    assert ("ecomarket_backup_offbox_age_seconds", ()) not in samples
