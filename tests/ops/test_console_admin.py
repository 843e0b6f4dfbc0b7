"""The console's residents directory and settings pages over real HTTP: the directory as loaded, a broken file
reported in the `check` command's words while the last good directory stays, the reload action and its CSRF
check; every setting shown, no secret on any page."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from html import escape
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from controller.records.audit_sqlite import SqliteAuditLog
from controller.records.directory_file import LiveDirectory
from controller.settings import ENV_PREFIX, Settings, load_settings
from controller.tools.check import run_check
from controller.wiring import operator_console, settings_rows
from controller.wiring.console import MASK, SECRET_NAME, shown_value
from controller.wiring.settings_pt import DESCRIPTIONS
from tests.ops.test_console import DIRECTORY, Actions, call_events, console, serving


def check_says_of(directory: Path) -> tuple[bool, str]:
    """What `python -m controller check` reports of this directory file (its one directory line)."""
    lines: list[tuple[bool, str]] = []
    run_check(lambda ok, line: lines.append((ok, line)), ari_password="x", directory=directory,
              ari_url="http://127.0.0.1:9", audiosocket_bind="127.0.0.1:0")
    return next((ok, line.removeprefix("directory ")) for ok, line in lines if line.startswith("directory "))


async def test_the_directory_page_shows_what_was_loaded(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        page = await (await bed.http.get(bed.url + "/console/directory")).text()
        for shown in ("101", "Renata Souza", "Carlos Souza (Cacá)", "PJSIP/carlos-celular", "PJSIP/101", "PJSIP/202",
                      "2 apartamento(s), 3 morador(es)", "carregado sem erros", str(bed.directory.path)):
            assert shown in page, shown
        assert "Maria &lt;Lima&gt;" in page and "<Lima>" not in page
        assert 'action="/console/directory/reload"' in page and 'aria-current="page"' in page


async def test_a_broken_file_is_reported_as_check_says_and_the_last_good_one_stays(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        path = bed.directory.path
        path.write_text('[{"apartment_number": "303", "residents": []}]', encoding="utf-8")
        forged = await bed.http.post(bed.url + "/console/directory/reload", data={"csrf": "forged"})
        assert forged.status == 403 and bed.directory.problem is None  # refused: nothing was read
        token = await bed.csrf("/console/directory")
        done = await bed.http.post(bed.url + "/console/directory/reload", data={"csrf": token}, allow_redirects=False)
        assert (done.status, done.headers["Location"]) == (303, "/console/directory?site=default&reloaded=failed")
        page = await (await bed.http.get(bed.url + done.headers["Location"])).text()
        ok, check_line = await asyncio.to_thread(check_says_of, path)
        assert not ok and "residents" in check_line
        assert f"<pre>{escape(check_line)}</pre>" in page  # word for word what `check` prints
        assert "última versão válida" in page and "não pôde ser recarregado" in page
        assert "Renata Souza" in page and "<td>303</td>" not in page  # the last good directory, still in use
        assert bed.directory.current().find("101") is not None

        fixed = [*DIRECTORY, {"apartment_number": "303", "residents": ["Zé"], "voip_number": "PJSIP/303"}]
        path.write_text(json.dumps(fixed), encoding="utf-8")
        token = await bed.csrf("/console/directory")
        done = await bed.http.post(bed.url + "/console/directory/reload", data={"csrf": token}, allow_redirects=False)
        page = await (await bed.http.get(bed.url + done.headers["Location"])).text()
        assert "Arquivo recarregado." in page and "PJSIP/303" in page and "data-directory-problem" not in page
        assert bed.directory.problem is None


def test_shown_values_mask_secrets_and_credentials_in_urls() -> None:
    assert shown_value("ari_password", SecretStr("abc")) == MASK
    assert shown_value("ari_password", SecretStr("")) == ""
    assert shown_value("redis_url", SecretStr("redis://:pw@host:6379/0")) == MASK  # by its type
    assert shown_value("some_api_key", "plain-text-key") == MASK  # by its name
    assert shown_value("ari_password", None) == ""
    assert shown_value("gate_http_url", "http://admin:pw@192.168.0.50:8080/x") == f"http://{MASK}@192.168.0.50:8080/x"
    assert shown_value("gate_http_url", "http://192.168.0.50") == "http://192.168.0.50"
    assert shown_value("silence_ms", 700) == "700"
    # A webhook's secret rides in its query or its path as often as in a user part.
    assert shown_value("gate_http_url", "https://relay.example/open?door=1&apikey=s3cr3t") == (
        f"https://relay.example/open?door={MASK}&apikey={MASK}"
    )
    assert shown_value("gate_http_url", "https://hooks.example/services/T01/xoxb9f8e7d6c5b4a3210") == (
        f"https://hooks.example/services/T01/{MASK}"
    )
    assert shown_value("gate_http_url", "http://192.168.0.50/relay/0") == "http://192.168.0.50/relay/0"


def test_every_setting_has_a_row_with_its_description() -> None:
    rows = settings_rows(load_settings(ari_password="x" * 20, silence_ms=650))
    assert [name for name, _, _ in rows] == [f"{ENV_PREFIX}{n.upper()}" for n in Settings.model_fields]
    by_name = {name: (value, about) for name, value, about in rows}
    assert by_name["PORTARIA_SILENCE_MS"] == ("650", "Silêncio (tempo real) que encerra o turno de quem ligou, em ms.")
    assert by_name["PORTARIA_ARI_PASSWORD"][0] == MASK and by_name["PORTARIA_LLM_API_KEY"][0] == ""


def test_every_setting_is_described_in_portuguese() -> None:
    assert set(DESCRIPTIONS) == set(Settings.model_fields)
    assert all(text.strip() for text in DESCRIPTIONS.values())


def secret_markers() -> dict[str, str]:
    """A unique marker in every secret setting (by type or by name) and in the password of every URL setting."""
    markers: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        marker = f"marker{uuid.uuid4().hex}"
        if name == "redis_url":
            markers[name] = f"redis://:{marker}@127.0.0.1:6379/0"
        elif "SecretStr" in str(field.annotation) or SECRET_NAME.search(name):
            markers[name] = marker
        elif name in ("ari_url", "llm_base_url", "gate_http_url"):
            markers[name] = f"http://user:{marker}@127.0.0.1:8088/"
    return markers


async def test_no_secret_appears_in_any_console_page(tmp_path: Path) -> None:
    markers = secret_markers()
    assert {"ari_password", "console_password", "console_session_secret", "gate_http_password", "gate_http_token",
            "llm_api_key", "azure_speech_key", "redis_url", "ari_url"} <= set(markers)
    secrets = {name: re.search(r"marker[0-9a-f]{32}", value).group() for name, value in markers.items()}  # type: ignore[union-attr]
    directory_file = tmp_path / "apartamentos.json"
    directory_file.write_text(json.dumps(DIRECTORY), encoding="utf-8")
    settings = load_settings(**markers, directory=directory_file, audit_db=tmp_path / "audit.sqlite3",
                             events_file=tmp_path / "events.jsonl")
    audit = SqliteAuditLog(settings.audit_db, gate="portao", retention_days=30)
    listeners: list[Any] = []
    no_calls: Any = Actions()
    pages = operator_console(settings, listeners.append, audit, no_calls, LiveDirectory(directory_file))
    assert pages is not None
    for event in call_events("c1"):
        listeners[0](event)
    try:
        async with serving(pages) as url, aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            login = await http.post(f"{url}/console/login", allow_redirects=False,
                                    data={"user": "portaria", "password": secrets["console_password"]})
            assert login.status == 303
            seen: dict[str, str] = {"login": await (await http.get(f"{url}/console/login")).text()}
            paths = {resource.canonical for resource in pages_app_routes(pages)}
            for path in sorted(paths):
                concrete = path.replace("{call_id}", "c1")
                response = await http.get(url + concrete, params={"name": "x"})
                assert response.status == 200, concrete
                seen[concrete] = await response.text()
                assert all(secret not in str(response.url) for secret in secrets.values())
            assert {"/console", "/console/settings", "/console/directory", "/console/audit"} <= set(seen)
            assert MASK in seen["/console/settings"] and "PORTARIA_ARI_PASSWORD" in seen["/console/settings"]
            for where, text in seen.items():
                for name, secret in secrets.items():
                    assert secret not in text, f"{name} shows on {where}"
    finally:
        await audit.aclose()


def pages_app_routes(pages: Any) -> list[Any]:
    """Every GET page the console serves (not its script and style, nor the event stream)."""
    app = aiohttp.web.Application()
    pages.routes(app)
    return [
        route.resource for route in app.router.routes()
        if route.method == "GET" and route.resource is not None
        and not route.resource.canonical.startswith(("/console/static", "/console/events"))
    ]


