"""The console over real HTTP, on a real SQLite file: the pre-authorisations page (register, list, revoke) and the
site and gate on a call of a sites file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.ops.test_console import NOW, call_events, console

FORM = {
    "site": "default",
    "name": "Rosângela <Alves>",
    "apartment": "1203",
    "block": "a",
    "by": "Kátia Regina",
    "from": "2026-12-02T08:00",
    "until": "2026-12-02T18:00",
    "code": "",
}


async def test_an_operator_registers_a_pass_for_a_resident_and_revokes_it(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        page = await (await bed.http.get(bed.url + "/console/passes")).text()
        assert "Nenhuma autorização vigente ou futura." in page and 'aria-current="page"' in page
        token = await bed.csrf("/console/passes")
        added = await bed.http.post(bed.url + "/console/passes", data={**FORM, "csrf": token}, allow_redirects=False)
        assert (added.status, added.headers["Location"]) == (303, "/console/passes?site=default&done=added")
        [granted] = await bed.passes.valid("default", NOW - timedelta(hours=1))  # 10:30 UTC is 10:30 here
        assert (granted.visitor_name, granted.apartment, granted.block) == ("Rosângela <Alves>", "1203", "A")
        assert granted.granted_by == "Kátia Regina (pelo console: portaria)", "who asked, and who typed it in"
        assert (granted.valid_from, granted.valid_until) == (
            "2026-12-02T08:00:00.000+00:00",
            "2026-12-02T18:00:00.000+00:00",
        )
        page = await (await bed.http.get(bed.url + "/console/passes?done=added")).text()
        assert "Autorização registrada." in page and "Rosângela &lt;Alves&gt;" in page and "<Alves>" not in page
        assert "02/12/2026 08:00 – 02/12/2026 18:00" in page and "válida" in page
        revoked = await bed.http.post(
            bed.url + f"/console/passes/{granted.id}/revoke", data={"csrf": token}, allow_redirects=False
        )
        assert revoked.headers["Location"] == "/console/passes?done=revoked"
        assert await bed.passes.valid("default", NOW - timedelta(hours=1)) == ()
        page = await (await bed.http.get(bed.url + "/console/passes")).text()
        assert "revogada" in page and f"/console/passes/{granted.id}/revoke" not in page
        again = await bed.http.post(
            bed.url + f"/console/passes/{granted.id}/revoke", data={"csrf": token}, allow_redirects=False
        )
        assert again.headers["Location"] == "/console/passes?done=gone"


async def test_a_form_without_its_csrf_token_or_with_a_bad_pass_stores_nothing(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        forged = await bed.http.post(bed.url + "/console/passes", data=FORM, allow_redirects=False)
        assert forged.status == 403
        token = await bed.csrf("/console/passes")
        bad = await bed.http.post(bed.url + "/console/passes", data={**FORM, "code": "12", "csrf": token})
        assert bad.status == 400
        text = await bad.text()
        assert "A autorização não foi registrada: o código do teclado tem de 6 a 10 dígitos." in text
        backwards = await bed.http.post(
            bed.url + "/console/passes", data={**FORM, "until": "2026-12-02T07:00", "csrf": token}
        )
        assert backwards.status == 400
        assert "o fim da validade é antes do início." in await backwards.text()
        assert await bed.passes.listing(since=NOW - timedelta(days=1)) == []
        bed.http.cookie_jar.clear()
        anonymous = await bed.http.get(bed.url + "/console/passes", allow_redirects=False)
        assert anonymous.status == 303 and anonymous.headers["Location"] == "/console/login"


async def test_a_call_of_a_site_shows_its_site_and_gate(tmp_path: Path) -> None:
    async with console(tmp_path) as bed:
        await bed.login()
        events = call_events("s1")
        events[0] = {**events[0], "site": "jardins", "gate": "4001"}
        for event in [*events, *({**e, "call_id": "d1"} for e in call_events("d1"))]:
            bed.live.on_event(event)
        page = await (await bed.http.get(bed.url + "/console")).text()
        card, other = page.split('data-call="s1"', 1)[1], page.split('data-call="d1"', 1)[1]
        assert "interfone 1000 · jardins, portão 4001</small>" in card.split("</h3>", 1)[0]
        assert "interfone 1000</small>" in other.split("</h3>", 1)[0], "the one-site default shows no site"


async def test_with_a_sites_file_each_site_has_its_directory_and_passes_pages(tmp_path: Path) -> None:
    other = tmp_path / "apoena.json"
    other.write_text('[{"apartment_number": "707", "residents": ["Zélia Prado"], "voip_number": "PJSIP/707"}]')
    async with console(tmp_path, extra_site=("apoena", other)) as bed:
        await bed.login()
        page = await (await bed.http.get(bed.url + "/console/directory")).text()
        assert 'href="/console/directory?site=apoena"' in page and "Renata Souza" in page
        page = await (await bed.http.get(bed.url + "/console/directory?site=apoena")).text()
        assert "Zélia Prado" in page and "Renata Souza" not in page and 'name="site" value="apoena"' in page
        token = await bed.csrf("/console/passes?site=apoena")
        form = {**FORM, "site": "apoena", "apartment": "707", "csrf": token}
        added = await bed.http.post(bed.url + "/console/passes", data=form, allow_redirects=False)
        assert added.headers["Location"] == "/console/passes?site=apoena&done=added"
        assert len(await bed.passes.valid("apoena", NOW - timedelta(hours=1))) == 1
        assert await bed.passes.valid("default", NOW - timedelta(hours=1)) == (), "the other site has none"
        page = await (await bed.http.get(bed.url + "/console/passes?site=default")).text()
        assert "Nenhuma autorização vigente ou futura." in page
        forged = {**form, "site": "nowhere"}  # not a site: the first one, never a made-up one
        await bed.http.post(bed.url + "/console/passes", data=forged, allow_redirects=False)
        assert {entry.site for entry in await bed.passes.listing(since=NOW - timedelta(days=1))} == {
            "apoena",
            "default",
        }
