"""The operator console in a real headless Chromium (Debian's package, driven by Playwright) against a real call
on the Asterisk test bed: login, the call appearing live, its transcript growing, the resident rung, the decision,
the timeline; an action without the CSRF token refused; then, reached through the navigation, the decisions
search (the call's row found by its apartment and its day, not by another apartment), the residents directory and
its reload, the settings with their secrets masked, and the charts drawn from the call's events.

With PORTARIA_SCREENSHOTS=<folder> the pages are saved there (docs/images holds the committed ones).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import SettingsFactory
from tests.support.net import free_port
from tests.support.resident_bed import nothing_of_ours_left, running, visitor_calls, webhook, webhook_gate

pytestmark = pytest.mark.asterisk

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "senha-do-operador-42"
GUARD_MS = 90_000
# No background traffic: this machine's network is closed, and Chromium would retry its lookups for ever.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def test_a_real_call_in_the_console_from_login_to_the_decision(
    make_settings: SettingsFactory, tmp_path: Path, browser: object
) -> None:
    from playwright.async_api import Browser, expect

    assert isinstance(browser, Browser)
    tag = uuid.uuid4().hex[:8]
    port = free_port()
    async with webhook() as hook:
        settings = webhook_gate(
            make_settings, tmp_path, {"101": f"Local/dtmf-1+c{tag}@resident-sim/n"}, hook.url,
            console_bind=f"127.0.0.1:{port}", console_password=PASSWORD,
        )
        async with running(settings) as (service, watcher):
            base = f"http://127.0.0.1:{port}"
            context = await browser.new_context(viewport={"width": 1100, "height": 900}, locale="pt-BR")
            page = await context.new_page()
            await page.goto(f"{base}/console")
            assert page.url.endswith("/console/login")  # nothing without a login

            await page.fill("input[name=user]", "portaria")
            await page.fill("input[name=password]", "senha-errada-000")
            await page.click("button[type=submit]")
            await expect(page.get_by_role("alert")).to_have_text("Usuário ou senha incorretos.")
            await page.fill("input[name=user]", "portaria")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await expect(page.get_by_role("heading", name="Chamadas em andamento")).to_be_visible()

            call = await visitor_calls(service, watcher, first="visitor-demo", second="noise-1s", lead_s=3)
            card = page.locator(f'[data-call="{call.call_id}"]')
            await expect(card).to_be_visible(timeout=GUARD_MS)  # it appeared without anyone reloading
            transcript = card.locator("[data-transcript] li")
            await expect(transcript.first).to_contain_text("Portaria:", timeout=GUARD_MS)  # the greeting
            # The call's own page, open in a second tab while the visitor is still talking: its timeline grows.
            live_page = await context.new_page()
            await live_page.goto(f"{base}/console/calls/{call.call_id}")
            timeline = live_page.locator("[data-timeline-live] svg.waterfall")
            await expect(live_page.locator("[data-timeline-live]")).to_be_visible()
            assert "toque do morador" not in (await live_page.locator("[data-timeline-live]").text_content() or "")
            await expect(live_page.locator('[data-field="leg-gate"]')).not_to_have_text("-", timeout=GUARD_MS)
            await expect(card.locator("[data-transcript] li", has_text="Visitante:")).to_have_count(
                1, timeout=GUARD_MS
            )
            await expect(card.locator('[data-field="resident"]')).not_to_have_text("-", timeout=GUARD_MS)
            await expect(card.locator('[data-field="decision"]')).to_have_text("liberado", timeout=GUARD_MS)
            assert await transcript.count() >= 3  # greeting, the visitor's words, what we said back
            await expect(timeline).to_contain_text("toque do morador (atendeu)", timeout=GUARD_MS)  # redrawn
            await expect(live_page.locator('[data-field="decision"]')).to_have_text("liberado", timeout=GUARD_MS)
            await live_page.close()
            shots = os.environ.get("PORTARIA_SCREENSHOTS")
            if shots:
                await page.screenshot(path=str(Path(shots) / "console-live.png"), full_page=True)

            # An action without the session's CSRF token, from the logged-in page itself, is refused.
            status = await page.evaluate(
                """async (id) => (await fetch(`/console/calls/${id}/hangup`, {method: "POST"})).status""",
                call.call_id,
            )
            assert status == 403

            await watcher.wait_for("call_end", call_id=call.call_id, timeout=GUARD_MS / 1000)
            await expect(card.locator('[data-field="leg-gate"]')).to_have_text("encerrada", timeout=GUARD_MS)
            await _metrics_moved(base, page)
            await page.goto(f"{base}/console/calls/{call.call_id}")
            await expect(page.locator("svg.waterfall")).to_be_visible()
            assert await page.locator("svg.waterfall rect").count() >= 6
            for row in ("fala (portão)", "reconhecimento (portão)", "toque do morador (atendeu)", "portão aberto"):
                await expect(page.locator("svg.waterfall")).to_contain_text(row)
            if shots:
                await page.screenshot(path=str(Path(shots) / "console-timeline.png"), full_page=True)

            secrets = [PASSWORD, settings.require_ari().get_secret_value()]
            contents = [await page.content()]

            # The decisions search, through the page's own form: by apartment, by the call's day, not by another.
            await page.get_by_role("link", name="Decisões").click()
            await page.fill("input[name=apartment]", "101")
            await page.fill("input[name=from]", datetime.now().astimezone().date().isoformat())
            await page.fill("input[name=to]", datetime.now().astimezone().date().isoformat())
            await page.click("form.filters button[type=submit]")
            rows = page.locator("table.audit tbody tr")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text("liberado")
            await expect(rows.first).to_contain_text("101")
            await expect(page.locator("p.count")).to_have_text("mostrando 1 de 1")
            if shots:
                await page.screenshot(path=str(Path(shots) / "console-audit.png"), full_page=True)
            contents.append(await page.content())
            await page.fill("input[name=apartment]", "102")
            await page.click("form.filters button[type=submit]")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_have_text("Nenhuma decisão.")
            await expect(page.locator("p.count")).to_have_text("mostrando 0 de 0")
            await page.goto(f"{base}/console/audit?from=ontem")
            await expect(page.get_by_role("alert")).to_contain_text("Data inválida")

            # The residents directory as loaded, and its reload.
            await page.get_by_role("link", name="Moradores").click()
            await expect(page.locator("[data-directory-ok]")).to_be_visible()
            ring = page.locator("table.directory tr", has_text=f"c{tag}@resident-sim")
            await expect(ring).to_contain_text("101")
            await page.get_by_role("button", name="Recarregar").click()
            await expect(page.get_by_role("status")).to_have_text("Arquivo recarregado.")
            if shots:
                await page.screenshot(path=str(Path(shots) / "console-directory.png"), full_page=True)
            contents.append(await page.content())

            # A pre-authorised visitor registered for a resident through the form, then revoked.
            await page.get_by_role("link", name="Autorizações").click()
            await page.get_by_label("Visitante").fill("Rosângela Alves")
            await page.get_by_label("Apartamento").fill("101")
            await page.get_by_label("Autorizado por (morador)").fill("Renata Souza")
            await page.get_by_label("De", exact=True).fill("2030-01-10T08:00")
            await page.get_by_label("Até", exact=True).fill("2030-01-10T18:00")
            await page.get_by_role("button", name="Registrar").click()
            await expect(page.get_by_role("status")).to_have_text("Autorização registrada.")
            row = page.locator("table.passes tr", has_text="Rosângela Alves")
            await expect(row).to_contain_text("Renata Souza (pelo console: portaria)")
            await expect(row).to_contain_text("10/01/2030 08:00")
            await row.get_by_role("button", name="Revogar").click()
            await expect(page.get_by_role("status")).to_have_text("Autorização revogada.")
            await expect(page.locator("table.passes tr", has_text="Rosângela Alves")).to_contain_text("revogada")
            contents.append(await page.content())

            # Every setting, secrets masked.
            await page.get_by_role("link", name="Configurações").click()
            secret_row = page.locator("table.settings tr", has_text="PORTARIA_ARI_PASSWORD")
            await expect(secret_row).to_contain_text("••••••")
            await expect(page.locator("table.settings tr", has_text="PORTARIA_CONSOLE_PASSWORD")).to_contain_text(
                "••••••"
            )
            contents.append(await page.content())

            # The charts, from this call's events: one call, its turns, its outcome.
            await page.get_by_role("link", name="Gráficos").click()
            await expect(page.locator('svg[data-chart="calls"] rect.calls')).to_have_count(1)
            assert await page.locator('svg[data-chart="latency"] circle').count() >= 2  # its p50 and p95
            await expect(page.locator('svg[data-chart="outcomes"] rect.o-authorised')).to_have_count(1)
            if shots:
                await page.screenshot(path=str(Path(shots) / "console-charts.png"), full_page=True)
            contents.append(await page.content())
            for content in contents:
                assert not any(secret in content for secret in secrets)
            await context.close()
            await nothing_of_ours_left(service, call)
    assert [r["body"]["call_id"] for r in hook.requests] == [call.call_id]


async def _metrics_moved(base: str, page: object) -> None:
    """/metrics after the whole visit: the decision, the ring, the opening, and real turn and recognition times."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    response = await page.request.get(f"{base}/metrics")
    values = {
        s.name + "".join(f"{{{v}}}" for v in s.labels.values()): s.value
        for family in text_string_to_metric_families(await response.text())
        for s in family.samples
    }
    assert values["portaria_decisions_total{authorised}"] == 1
    assert values["portaria_gate_openings_total"] == 1 and values["portaria_resident_ring_seconds_count"] == 1
    assert values["portaria_turn_latency_seconds_count{gate}"] >= 1
    assert values["portaria_turn_latency_seconds_sum{gate}"] > 0
    # Recognition time as it was: from the early end of speech to the result, not the wait after the turn.
    assert values["portaria_stt_seconds_count"] >= 1 and values["portaria_stt_seconds_sum"] > 0.1
    assert values["portaria_calls_active"] == 0 and values["portaria_calls_total"] == 1
