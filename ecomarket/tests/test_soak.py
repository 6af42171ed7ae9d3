"""The fault-injection soak, CI profile: nothing acknowledged is lost or doubled, whatever breaks."""

import pytest

from harness import soak

pytestmark = [pytest.mark.mode("branch"), pytest.mark.processes]


def test_nothing_is_lost_or_doubled_under_faults(tmp_path):
    result = soak.run("ci", root=tmp_path, log=lambda line: None)
    rows = dict(result.rows)
    print("\n" + "\n".join(f"{label:<50} {value}" for label, value in result.rows))

    assert result.problems == []
    assert int(rows["sales acknowledged (2xx)"]) > 100
    assert rows["sales delivered to central"] == rows["sales acknowledged (2xx)"]
    for fault in (
        "fault: central killed and restarted",
        "fault: link blackholed and healed",
        "fault: answer cut after central committed",
        "fault: worker SIGKILLed mid-push",
        "fault: central database connections terminated",
        "fault: branch server SIGKILLed mid-load and restarted",
        "fault: broker flushed (queued messages lost)",
        "fault: stock snapshot written in parts",
        "fault: unappliable change in the feed",
        "fault: change feed rewound (central restored)",
    ):
        assert int(rows.get(fault, 0)) >= 1, fault
