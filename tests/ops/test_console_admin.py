"""The console's residents directory page over real HTTP: the directory as loaded, a broken file reported in the
`check` command's words while the last good directory stays, the reload action and its CSRF check."""

from __future__ import annotations

import asyncio
import json
from html import escape
from pathlib import Path

from controller.tools.check import run_check
from tests.ops.test_console import DIRECTORY, console


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
        assert (done.status, done.headers["Location"]) == (303, "/console/directory?reloaded=failed")
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
