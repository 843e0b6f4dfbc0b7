"""Many condominiums on one Portaria, against the real Asterisk: each gate's call reaches its own site.

Two sites in one sites file, each with its own directory (apartment 101's Renata rings a different phone), greeting,
voice (one speaks with a Kokoro voice pack of its own: tests/speech/test_kokoro_voices.py hears the difference)
and gate opener (door code by DTMF at one, a webhook at the other). The gate's key is the extension the visitor
dialled (tests/asterisk/extensions-test.conf, from-gate-sites). The visitor's request goes through the real media
and Whisper; the language model is the local fake at its HTTP boundary, as in test_resident.py.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from controller.settings import Settings
from tests.integration.conftest import SettingsFactory
from tests.support.fake_llm import serving
from tests.support.resident_bed import (
    CALL_GUARD_S,
    audit_rows,
    ended,
    gate_side,
    make_llm,
    resident,
    running,
    until_dialled,
    visitor_calls,
    webhook,
)

pytestmark = [pytest.mark.asterisk, pytest.mark.beside]  # a Stasis app of its own (tests/conftest.py)

APP = "portaria-sites"
JARDINS_GREETING = "Residencial Jardins, boa tarde. Em que posso ajudar?"
APOENA_GREETING = "Condomínio Apoena, portaria. Pois não?"


def sites_settings(make_settings: SettingsFactory, folder: Path, llm_url: str, **overrides: Any) -> Settings:
    """This module's service: the sites file in `folder`, its audit file there, the visitor read by the fake model."""
    return make_settings(
        ari_app=APP,
        sites=folder / "sites.toml",
        audit_db=folder / "audit.sqlite3",
        understanding="llm",
        llm_base_url=llm_url,
        llm_model="openai/test-model",
        llm_api_key="test-key",
        llm_timeout_s=10,
        **overrides,
    )


def directory(path: Path, phone: str) -> Path:
    entries = [{"apartment_number": "101", "residents": ["Renata Souza"], "voip_number": phone}]
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path


async def test_two_gates_of_two_sites_reach_their_own_directories_greetings_and_openers(
    make_settings: SettingsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    jardins_phone, apoena_phone = resident("dtmf-1", f"j{tag}"), resident("dtmf-1", f"a{tag}")
    directory(tmp_path / "jardins.json", jardins_phone)
    directory(tmp_path / "apoena.json", apoena_phone)
    monkeypatch.setenv("APOENA_WEBHOOK_TOKEN", "token-of-apoena-123")
    async with webhook() as hook, serving(make_llm()) as llm:
        (tmp_path / "sites.toml").write_text(
            f"""
[[site]]
id = "jardins"
name = "Residencial Jardins"
gates = ["4001"]
directory = "jardins.json"
greeting = "{JARDINS_GREETING}"
[site.opener]
kind = "dtmf"
dtmf = "*7"

[[site]]
id = "apoena"
name = "Condomínio Apoena"
gates = ["apoena-social"]
directory = "apoena.json"
greeting = "{APOENA_GREETING}"
voice = "jf_alpha"
[site.opener]
kind = "http"
preset = "webhook"
url = "{hook.url}"
token_env = "APOENA_WEBHOOK_TOKEN"
""",
            encoding="utf-8",
        )
        settings = sites_settings(
            make_settings,
            tmp_path,
            llm.base_url,
            gate_opener="none",  # what a site without an opener of its own would use: neither here
        )
        async with running(settings) as (service, watcher), gate_side(service.settings) as side:
            at_jardins = await visitor_calls(service, watcher, gate="4001")
            await side.subscribe(at_jardins.visitor_channel)
            assert (await until_dialled(watcher, at_jardins))["endpoint"] == jardins_phone
            await watcher.wait_for("gate_opened", call_id=at_jardins.call_id, timeout=CALL_GUARD_S)
            await side.wait_dtmf(at_jardins.visitor_channel, "*7")
            await ended(service, watcher, at_jardins)
            assert not hook.requests, "the other site's opener stayed shut"

            at_apoena = await visitor_calls(service, watcher, gate="apoena-social")
            await side.subscribe(at_apoena.visitor_channel)
            assert (await until_dialled(watcher, at_apoena))["endpoint"] == apoena_phone
            await watcher.wait_for("gate_opened", call_id=at_apoena.call_id, timeout=CALL_GUARD_S)
            await ended(service, watcher, at_apoena)
            assert not side.dtmf(at_apoena.visitor_channel), "no door code on the webhook site's intercom"

            for call, site, gate, greeting, voice in (
                (at_jardins, "jardins", "4001", JARDINS_GREETING, None),
                (at_apoena, "apoena", "apoena-social", APOENA_GREETING, "jf_alpha"),
            ):
                [start] = watcher.find("stasis_start", call_id=call.call_id)
                assert (start["site"], start["gate"], start.get("voice")) == (site, gate, voice)
                assert watcher.find("say", call_id=call.call_id)[0]["text"] == greeting
                [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
                assert (row["site"], row["gate"], row["decision"], row["apartment"]) == (
                    site,
                    gate,
                    "authorised",
                    "101",
                )
    [request] = hook.requests
    assert request["body"]["call_id"] == at_apoena.call_id
    assert request["authorization"] == "Bearer token-of-apoena-123"  # the secret the file names, from the env
    assert "token-of-apoena-123" not in json.dumps(watcher.for_call(at_apoena.call_id))


async def test_a_delivery_with_nobody_home_follows_the_site_s_policy_and_fires_its_webhook(
    make_settings: SettingsFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    directory(tmp_path / "jardins.json", resident("noanswer", f"n{tag}"))
    monkeypatch.setenv("JARDINS_NOTES_TOKEN", "notes-token-456")
    async with webhook() as hook, serving(make_llm()) as llm:
        (tmp_path / "sites.toml").write_text(
            f"""
[[site]]
id = "jardins"
name = "Residencial Jardins"
gates = ["4001"]
directory = "jardins.json"
delivery = "zelador"
[site.notify]
url = "{hook.url}"
token_env = "JARDINS_NOTES_TOKEN"
""",
            encoding="utf-8",
        )
        settings = sites_settings(
            make_settings,
            tmp_path,
            llm.base_url,
            ring_timeout_s=4,
            call_attempts=1,
            concierge_endpoint="PJSIP/concierge",  # the policy, not the hand-over, tells the courier what to do
        )
        async with running(settings) as (service, watcher):
            call = await visitor_calls(service, watcher, gate="4001")
            await until_dialled(watcher, call)
            await watcher.wait_for("resident_note_sent", call_id=call.call_id, timeout=CALL_GUARD_S)
            await ended(service, watcher, call)
            said = [e["text"] for e in watcher.find("say", call_id=call.call_id)]
            assert said[-1] == (
                "Ninguém atendeu no 101. Por favor, deixe a encomenda com o zelador. O morador vai receber um aviso."
                " Obrigado, até logo."
            )
            assert not watcher.find("fallback", call_id=call.call_id)
    [note] = hook.requests
    assert note["authorization"] == "Bearer notes-token-456"
    assert note["body"] == {
        "event": "delivery_nobody_home",
        "site": "jardins",
        "gate": "4001",
        "call_id": call.call_id,
        "apartment": "101",
        "block": None,
        "resident": "Renata Souza",
        "visitor_name": "João",
        "policy": "zelador",
    }
    [row] = audit_rows(tmp_path / "audit.sqlite3", call.call_id)
    assert (row["site"], row["decision"]) == ("jardins", "no_answer")
