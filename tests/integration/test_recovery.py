"""The controller killed with SIGKILL mid-call, then started again, against the real Asterisk.

A first service runs as its own process (``python -m controller run``) and takes a call: the visitor asks for 101,
whose phone rings and never answers. The process is killed while it rings, leaving the call's mixing bridge, the
externalMedia channel, the ringing resident channel and the visitor, silent, in our Stasis app. A new service on
the same resource journal must remove all of ours and hand the visitor to the concierge, whose phone then rings.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from controller.ari.client import AriClient
from controller.settings import load_settings
from controller.wiring import Service
from tests.support.calls import events_file
from tests.support.poll import eventually
from tests.support.resident_bed import APP, GATE_CONTEXTS
from tests.support.testbed import REPO, Testbed

pytestmark = pytest.mark.asterisk

GUARD_S = 60.0


async def test_a_killed_run_leaves_nothing_after_the_restart_and_the_visitor_reaches_a_person(
    testbed: Testbed, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    directory = tmp_path / "directory.json"
    phone = f"Local/noanswer+r{tag}@resident-sim/n"  # rings and never answers
    directory.write_text(json.dumps([{"apartment_number": "101", "residents": ["Renata Souza"], "voip_number": phone}]))
    concierge = f"Local/noanswer+c{tag}@resident-sim/n"
    values = {
        "PORTARIA_ARI_URL": testbed.ari_url,
        "PORTARIA_ARI_PASSWORD": testbed.ari_password,
        "PORTARIA_ARI_APP": APP,
        "PORTARIA_AUDIOSOCKET_BIND": "127.0.0.1:0",
        "PORTARIA_DIRECTORY": str(directory),
        "PORTARIA_EVENTS_FILE": str(tmp_path / "events.jsonl"),
        "PORTARIA_RESOURCE_JOURNAL": str(tmp_path / "resources.jsonl"),
        "PORTARIA_AUDIT_DB": str(tmp_path / "audit.sqlite3"),
        "PORTARIA_CONCIERGE_ENDPOINT": concierge,
        "PORTARIA_RING_TIMEOUT_S": "60",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTARIA_")} | values
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller", "run", env=env, cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    async with AriClient(testbed.ari_url, "portaria", testbed.ari_password, f"{APP}-watch") as ari:
        gate, visitor = f"krec-{tag}", f"krec-{tag}-visitor"
        try:
            async def ready() -> bool:  # the first service's events websocket is up: our app is registered
                return APP in [app["name"] for app in await ari.get("applications")]

            await eventually(ready, within=GUARD_S)
            await ari.post(
                "channels", endpoint=f"Local/visitor-demo+{tag}+3+30+noise-1s@visitor-sim2/n", extension="s",
                context=GATE_CONTEXTS[APP], priority=1, callerId="Interfone <1000>", timeout=30,
                channelId=gate, otherChannelId=visitor,
            )

            async def ringing() -> bool:
                return any(e["event"] == "resident_dial" for e in events_file(tmp_path / "events.jsonl"))

            await eventually(ringing, within=GUARD_S)
            dials = [e for e in events_file(tmp_path / "events.jsonl") if e["event"] == "resident_dial"]
            call_id = dials[0]["call_id"]
        finally:
            first.send_signal(signal.SIGKILL)
            await asyncio.wait_for(first.wait(), 10)

        async def ours() -> tuple[list[str], list[str]]:
            bridges = [b["id"] for b in await ari.get("bridges") if call_id in b["id"]]
            channels = [c["id"] for c in await ari.get("channels") if call_id in c["id"]]
            return bridges, channels

        left_bridges, left_channels = await ours()
        assert f"portaria-{call_id}-gate" in left_bridges  # what a killed run leaves, before the restart
        assert any(channel.startswith(f"portaria-resident-{call_id}") for channel in left_channels)

        settings = load_settings(**{k.removeprefix("PORTARIA_").lower(): v for k, v in values.items()})
        service = Service(settings)
        await service.start()
        try:
            await service.wait_connected()

            async def clean() -> bool:
                return await ours() == ([], [])

            await eventually(clean, within=15)

            async def concierge_rings() -> bool:
                return any(f"c{tag}" in c["name"] for c in await ari.get("channels"))

            await eventually(concierge_rings, within=15)  # the visitor was handed to a person
        finally:
            await service.asterisk.hang_up(visitor)
            await service.stop()

        async def all_gone() -> bool:
            names = [c["name"] + c["id"] for c in await ari.get("channels")]
            return not any(tag in name for name in names)

        await eventually(all_gone, within=15)
    assert not [e for e in events_file(tmp_path / "events.jsonl") if e["event"] == "gate_opened"]
