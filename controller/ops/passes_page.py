"""The console's pre-authorised visitors page (pt-BR): the passes whose window has not ended, a form to register
one for a resident, and a button to revoke each (controller/conversation/passes.py says what a pass does).

A pass registered here names the resident who asked for it and the operator who typed it in ("Kátia Regina
(pelo console: maria)"): the audit row of a visitor let in on it then says both. Times are read and shown in the
console's zone, as the operator reads a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, tzinfo
from html import escape
from urllib.parse import quote

from aiohttp import web

from controller.ops.admin_pages import site_links
from controller.ops.auth import Session
from controller.ops.layout import alert, csrf_field, page
from controller.records.passes_store import PassEntry, PassError, PassStore

log = logging.getLogger(__name__)

# The stores' reasons (English, as the `passes` command prints them), as the operator reads them here.
_REASONS_PT = (
    ("a pass needs", "falta o nome do visitante, o apartamento ou quem autoriza"),
    ("the window ends before it starts", "o fim da validade é antes do início"),
    ("a keypad code is", "o código do teclado tem de 6 a 10 dígitos"),
    ("that keypad code is already in use", "esse código já está em uso em outra autorização vigente"),
    ("a time without a zone", "horário sem fuso"),
)


def reason_pt(error: PassError) -> str:
    """A validation reason in pt-BR; anything else (the store is down) as the store said it."""
    text = str(error)
    return next((pt for prefix, pt in _REASONS_PT if text.startswith(prefix)), text)


NOTICES = {
    "added": "Autorização registrada.",
    "revoked": "Autorização revogada.",
    "gone": "Essa autorização não existe mais.",
}


def passes_page(
    entries: list[PassEntry],
    zone: tzinfo,
    *,
    site: str,
    notice: str,
    error: str,
    csrf: str,
    user: str,
    sites: Sequence[str] = ("default",),
) -> str:
    def local(iso: str) -> str:
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%d/%m/%Y %H:%M")

    rows = []
    for entry in entries:
        granted = entry.granted
        where = f"{granted.apartment}, bloco {granted.block}" if granted.block else granted.apartment
        state = "revogada" if entry.revoked_at else "válida"
        revoke = (
            ""
            if entry.revoked_at
            else f'<form method="post" action="/console/passes/{escape(granted.id)}/revoke" class="inline">'
            f'{csrf_field(csrf)}<button type="submit">Revogar</button></form>'
        )
        rows.append(
            f"<tr data-pass={escape(granted.id)}><td>{escape(granted.visitor_name)}</td><td>{escape(where)}</td>"
            f"<td>{escape(granted.granted_by)}</td><td>{local(granted.valid_from)} – {local(granted.valid_until)}</td>"
            f"<td>{'sim' if granted.code else ''}</td><td>{state}</td><td>{revoke}</td></tr>"
        )
    table = (
        '<table class="audit passes"><thead><tr><th>Visitante</th><th>Apartamento</th><th>Autorizado por</th>'
        f"<th>Validade</th><th>Código</th><th>Situação</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>Nenhuma autorização vigente ou futura.</p>"
    )
    form = (
        f'<form method="post" action="/console/passes" class="pass-form">{csrf_field(csrf)}'
        f'<input type="hidden" name="site" value="{escape(site)}">'
        '<label>Visitante <input name="name" required></label>'
        '<label>Apartamento <input name="apartment" required size="6"></label>'
        '<label>Bloco <input name="block" size="3"></label>'
        '<label>Autorizado por (morador) <input name="by" required></label>'
        '<label>De <input type="datetime-local" name="from" required></label>'
        '<label>Até <input type="datetime-local" name="until" required></label>'
        '<label>Código do teclado (opcional, 6 a 10 dígitos) <input name="code" inputmode="numeric" '
        'pattern="[0-9]{6,10}"></label>'
        '<button type="submit">Registrar</button></form>'
    )
    body = (
        f"<h2>Autorizações prévias</h2>{site_links('/console/passes', sites, site)}"
        "<p>Um morador pode autorizar um visitante antes: dentro do horário, quem disser esse nome (ou digitar o "
        "código) entra sem que o morador seja chamado, e a decisão fica registrada em nome dele. Com código, só o "
        "código abre.</p>"
        f"{f'<p class=notice role=status>{escape(notice)}</p>' if notice else ''}{alert(error)}{form}{table}"
    )
    return page("Autorizações", body, user=user, csrf=csrf, here="/console/passes")


class PassesPages:
    """The routes of the page; `viewing`/`acting` are the console's session checks (login, and CSRF for a form)."""

    def __init__(
        self,
        store: PassStore,
        *,
        sites: Callable[[], list[str]],
        zone: tzinfo,
        viewing: Callable[[web.Request], Session],
        acting: Callable[[web.Request], Awaitable[Session]],
        csrf: Callable[[Session], str],
    ) -> None:
        self._store, self._sites, self._zone = store, sites, zone
        self._viewing, self._acting, self._csrf = viewing, acting, csrf

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/console/passes", self._page)
        app.router.add_post("/console/passes", self._add)
        app.router.add_post("/console/passes/{number:[0-9]+}/revoke", self._revoke)

    async def _page(self, request: web.Request, error: str = "", status: int = 200) -> web.Response:
        session = self._viewing(request)
        site = self._site(request.query.get("site", ""))
        try:
            entries = await self._store.listing(site)
        except PassError as failure:
            entries, error = [], error or f"As autorizações não puderam ser lidas: {failure}"
        notice = NOTICES.get(request.query.get("done", ""), "")
        html = passes_page(
            entries,
            self._zone,
            site=site,
            notice=notice,
            error=error,
            csrf=self._csrf(session),
            user=session.user,
            sites=self._sites(),
        )
        return web.Response(text=html, content_type="text/html", status=status, headers={"Cache-Control": "no-store"})

    async def _add(self, request: web.Request) -> web.StreamResponse:
        session = await self._acting(request)
        form = await request.post()

        def field(name: str) -> str:
            return str(form.get(name, "")).strip()

        site = self._site(field("site"))
        try:
            granted = await self._store.add(
                site=site,
                apartment=field("apartment"),
                block=field("block").upper() or None,
                visitor_name=field("name"),
                granted_by=f"{field('by')} (pelo console: {session.user})" if field("by") else "",
                valid_from=self._moment(field("from")),
                valid_until=self._moment(field("until")),
                code=field("code") or None,
            )
        except PassError as failure:
            return await self._page(request, f"A autorização não foi registrada: {reason_pt(failure)}.", status=400)
        log.warning("console: %s registered pass %s for %s", session.user, granted.id, granted.apartment)
        raise web.HTTPSeeOther(f"/console/passes?site={quote(site)}&done=added")

    async def _revoke(self, request: web.Request) -> web.StreamResponse:
        session = await self._acting(request)
        number = int(request.match_info["number"])
        try:
            revoked = await self._store.revoke(number)
        except PassError as failure:
            return await self._page(request, f"A autorização não foi revogada: {failure}", status=503)
        log.warning("console: %s revoked pass %d (%s)", session.user, number, "ok" if revoked else "not found")
        raise web.HTTPSeeOther(f"/console/passes?done={'revoked' if revoked else 'gone'}")

    def _site(self, wanted: str) -> str:
        sites = self._sites()
        return wanted if wanted in sites else sites[0]

    def _moment(self, text: str) -> datetime:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise PassError(f"horário inválido: {text!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=self._zone)
