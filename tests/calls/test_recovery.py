"""What a crashed run leaves: the resource journal, and the start-up sweep (against the fake Asterisk here; the
real SIGKILL is in tests/integration/test_recovery.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.ari.client import AriError
from controller.calls.recovery import JournaledAsterisk, sweep
from controller.records.resource_journal import JournalBusy, Leftover, ResourceJournal
from tests.calls.fake_asterisk import FakeAsterisk


async def _a_call_killed_mid_way(path: Path, ari: FakeAsterisk) -> None:
    """A run that answered a caller, made its bridge, media and a resident's channel, then died (no teardown)."""
    journal = ResourceJournal(path)
    journal.start()
    ari.caller_in_stasis("gate-1")
    ari.connect_media = False
    ops = JournaledAsterisk(ari, journal, "c1")
    await ops.answer("gate-1")
    await ops.create_bridge("portaria-c1-gate")
    media_id = "3f2c1b8e-0000-4000-8000-000000000001"
    await ops.external_media("portaria-media-c1-gate", host="127.0.0.1:9", media_format="slin", connection_id=media_id)
    ari.live_channels["portaria-resident-c1-1"] = ari.live_channels["portaria-media-c1-gate"]  # ringing
    journal.created("c1", "channel", "portaria-resident-c1-1")
    journal.close()  # the process is gone: no teardown and no end were written; its lock went with it


async def test_leftovers_of_a_killed_run_are_removed_and_the_visitor_handed_over(tmp_path: Path) -> None:
    path, ari = tmp_path / "journal.jsonl", FakeAsterisk()
    await _a_call_killed_mid_way(path, ari)
    journal = ResourceJournal(path)
    assert {(item.kind, item.id) for item in journal.leftovers()} == {
        ("caller", "gate-1"),
        ("bridge", "portaria-c1-gate"),
        ("channel", "portaria-media-c1-gate"),
        ("channel", "portaria-resident-c1-1"),
    }
    done = await sweep(ari, journal, concierge_endpoint="PJSIP/concierge", fallback_context="portaria-fallback")
    assert (done.bridges, done.channels, done.handed_over, done.failed) == (1, 2, 1, 0)
    assert ari.leftovers() == ([], [])  # nothing of ours in Asterisk
    assert ("set_variable", "gate-1", "PORTARIA_CONCIERGE", "PJSIP/concierge") in [
        (r.method, *r.args) for r in ari.requests
    ]
    assert ari.called("continue_in_dialplan")[-1][:2] == ("gate-1", "portaria-fallback")
    journal.start()
    assert journal.leftovers() == []  # a fresh journal for this run


async def test_without_a_concierge_the_waiting_visitor_is_hung_up(tmp_path: Path) -> None:
    path, ari = tmp_path / "journal.jsonl", FakeAsterisk()
    await _a_call_killed_mid_way(path, ari)
    done = await sweep(ari, ResourceJournal(path), concierge_endpoint="", fallback_context="portaria-fallback")
    assert done.handed_over == 1 and "gate-1" not in ari.live_channels and not ari.called("continue_in_dialplan")


async def test_what_is_already_gone_is_no_failure(tmp_path: Path) -> None:
    path, ari = tmp_path / "journal.jsonl", FakeAsterisk()
    await _a_call_killed_mid_way(path, ari)
    ari.live_channels.clear()
    ari.live_bridges.clear()  # Asterisk restarted meanwhile
    done = await sweep(ari, ResourceJournal(path), concierge_endpoint="PJSIP/c", fallback_context="portaria-fallback")
    assert (done.bridges, done.channels, done.handed_over, done.failed) == (0, 0, 0, 0)


async def test_a_call_that_ended_cleanly_leaves_an_empty_journal(tmp_path: Path) -> None:
    path, ari = tmp_path / "journal.jsonl", FakeAsterisk()
    journal = ResourceJournal(path)
    journal.start()
    ari.caller_in_stasis("gate-1")
    ops = JournaledAsterisk(ari, journal, "c1")
    await ops.answer("gate-1")
    await ops.create_bridge("portaria-c1-gate")
    await ops.destroy_bridge("portaria-c1-gate")
    journal.ended("c1")  # the caller hung up by themselves: nothing of ours is left
    assert path.read_text() == ""
    journal.close()


async def test_a_removal_that_failed_keeps_the_call_for_the_next_sweep(tmp_path: Path) -> None:
    path, ari = tmp_path / "journal.jsonl", FakeAsterisk()
    journal = ResourceJournal(path)
    journal.start()
    ops = JournaledAsterisk(ari, journal, "c1")
    await ops.create_bridge("portaria-c1-gate")
    ari.fail("destroy_bridge", 500)
    with pytest.raises(AriError):
        await ops.destroy_bridge("portaria-c1-gate")
    journal.ended("c1")
    journal.close()
    assert ResourceJournal(path).leftovers() == [Leftover("c1", "bridge", "portaria-c1-gate")]


def test_a_torn_last_line_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "journal.jsonl"
    made = {"call": "c1", "op": "+", "kind": "bridge", "id": "portaria-c1-gate"}
    path.write_text(json.dumps(made) + '\n{"call": "c1", "op')  # the crash tore the last line
    assert ResourceJournal(path).leftovers() == [Leftover("c1", "bridge", "portaria-c1-gate")]
    assert "unreadable" in caplog.text


def test_a_second_live_instance_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    first = ResourceJournal(tmp_path / "journal.jsonl")
    first.start()
    with pytest.raises(JournalBusy, match="PORTARIA_RESOURCE_JOURNAL"):
        ResourceJournal(tmp_path / "journal.jsonl").leftovers()
    first.close()
    assert ResourceJournal(tmp_path / "journal.jsonl").leftovers() == []  # free once the first is gone


def test_an_unusable_journal_path_is_logged_and_calls_go_on(caplog: pytest.LogCaptureFixture) -> None:
    journal = ResourceJournal(Path("/proc/portaria-cannot/journal.jsonl"))
    assert journal.leftovers() == []
    journal.start()
    journal.created("c1", "bridge", "portaria-c1-gate")  # in memory only
    journal.ended("c1")
    assert "unusable" in caplog.text
