"""The operator's console, in pt-BR, served beside the operations endpoints (PORTARIA_CONSOLE_BIND) once
PORTARIA_CONSOLE_PASSWORD is set:

- ``/console``: the calls in progress and the last ones that ended, updated live (server-sent events from
  ``/console/events``): step, resident being rung, decision, the transcript of both legs as it happens, and
  per call a button to hang up and one to hand the visitor to the concierge;
- ``/console/calls/<id>``: one call's transcript and its timeline (a waterfall of each leg's events);
- ``/console/audit``: the decisions log searched (in SQL) by days, apartment and name; ``/console/audit.csv``
  exports the same search, every match;
- ``/console/directory``: the residents directory as loaded, the file's error if it does not load (the last good
  directory stays in use), and a button to reload it;
- ``/console/settings``: every setting, its value and what it does, secrets masked;
- ``/console/charts``: turn latency and calls per hour, outcomes per day, drawn here as SVG from the events log.

Every page needs a login (:mod:`controller.ops.auth`): a session cookie (HttpOnly, SameSite=Strict) and, on
every action, the session's CSRF token. No secret is ever written into a page or a URL. Pages are rendered
here with escaping; the script and style are files of this package (no CDN: it works offline).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from controller.conversation.directory import Directory
from controller.ops.admin_pages import directory_page, settings_page
from controller.ops.audit_page import audit_page, parse_search, zone_name
from controller.ops.auth import LoginGuard, Session, SessionSigner, same_secret
from controller.ops.chart_page import charts_page
from controller.ops.charts import Charts, build_charts
from controller.ops.live import CallView, LiveCalls, replay
from controller.ops.pages import call_page, calls_page, login_page, waterfall
from controller.ops.passes_page import PassesPages
from controller.records.audit import AuditError, AuditPage, AuditSearch, write_csv
from controller.records.call_samples import Event
from controller.records.passes_store import PassStore

log = logging.getLogger(__name__)

COOKIE = "portaria_session"
STATIC = Path(__file__).with_name("static")
AUDIT_LIMIT = 500
PING_S = 15.0

AuditSearcher = Callable[[AuditSearch, int | None], Awaitable[AuditPage]]  # SqliteAuditLog.search


class DirectoryFile(Protocol):
    """The residents directory as the service loads it (records.directory_file.LiveDirectory)."""

    @property
    def path(self) -> Path: ...

    @property
    def problem(self) -> str | None:
        """Why the file did not load when last read (the `check` command's words), or None."""

    def current(self) -> Directory: ...

    def reload(self) -> bool:
        """Read the file now; False when it does not load (the last good directory stays in use)."""


class CallActions(Protocol):
    async def hang_up(self, call_id: str) -> bool:
        """Hang the visitor up; False when no such call is running."""

    async def hand_over(self, call_id: str) -> bool:
        """Send the visitor to the concierge; False when no such call is running."""


class Console:
    def __init__(
        self,
        *,
        user: str,
        password: str,
        signer: SessionSigner,
        guard: LoginGuard,
        live: LiveCalls,
        audit: AuditSearcher,
        actions: CallActions,
        zone: tzinfo,
        directory: DirectoryFile,
        settings: Sequence[tuple[str, str, str]],
        history: Callable[[], Iterable[Event]],
        clock: Callable[[], datetime],
        hands_over: bool = True,
        passes: PassStore | None = None,
        sites: Callable[[], dict[str, DirectoryFile]] | None = None,
    ) -> None:
        """`zone`: where the pages show times and where the days of a search begin and end; `settings`: (name,
        value, description) of every setting, secrets already masked; `history`: the per-call events logged so
        far (blocking: it is called on a worker thread); `hands_over`: a concierge is configured, so a call can be
        handed to one (else the button is not offered)."""
        self._user, self._password = user, password
        self._signer, self._guard = signer, guard
        self._live, self._audit, self._actions = live, audit, actions
        self._zone, self._settings = zone, tuple(settings)
        self._sites = sites or (lambda: {"default": directory})  # site id -> its directory (sites file)
        self._history, self._clock = history, clock
        self._hands_over = hands_over
        self._passes = (
            PassesPages(
                passes,
                sites=lambda: list(self._sites()),
                zone=zone,
                viewing=self._viewing,
                acting=self._acting,
                csrf=signer.csrf,
            )
            if passes is not None
            else None
        )

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/console/login", self._login_form)
        r.add_post("/console/login", self._login)
        r.add_post("/console/logout", self._logout)
        r.add_get("/console", self._calls)
        r.add_get("/console/events", self._events)
        r.add_get("/console/calls/{call_id}", self._call)
        r.add_get("/console/calls/{call_id}/timeline", self._timeline)
        r.add_post("/console/calls/{call_id}/{action:hangup|handover}", self._act)
        r.add_get("/console/audit", self._audit_page)
        r.add_get("/console/audit.csv", self._audit_csv)
        r.add_get("/console/directory", self._directory_page)
        r.add_post("/console/directory/reload", self._reload_directory)
        r.add_get("/console/settings", self._settings_page)
        r.add_get("/console/charts", self._charts_page)
        if self._passes is not None:
            self._passes.routes(app)
        r.add_static("/console/static", STATIC)
        app.on_shutdown.append(self._end_streams)

    async def _end_streams(self, _: web.Application) -> None:
        self._live.end_streams()  # else the server's shutdown would wait for each open page

    # Login ----------------------------------------------------------------------------------------------------

    async def _login_form(self, request: web.Request) -> web.Response:
        return _html(login_page(error=""))

    async def _login(self, request: web.Request) -> web.StreamResponse:
        client = request.remote or "?"
        if not self._guard.allowed(client):
            log.warning("console: login refused for %s: too many bad logins", client)
            return _html(login_page(error="Muitas tentativas. Aguarde alguns minutos."), status=429)
        form = await request.post()
        user, password = str(form.get("user", "")), str(form.get("password", ""))
        if not (same_secret(user, self._user) & same_secret(password, self._password)):
            self._guard.failed(client)
            log.warning("console: bad login from %s", client)
            return _html(login_page(error="Usuário ou senha incorretos."), status=401)
        self._guard.succeeded(client)
        log.info("console: %s logged in from %s", user, client)
        response = web.HTTPSeeOther("/console")
        response.set_cookie(
            COOKIE,
            self._signer.issue(user),
            max_age=self._signer.max_age_s,
            httponly=True,
            samesite="Strict",
            path="/console",
        )
        raise response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        await self._acting(request)
        response = web.HTTPSeeOther("/console/login")
        response.del_cookie(COOKIE, path="/console")
        raise response

    def _session(self, request: web.Request) -> Session | None:
        return self._signer.verify(request.cookies.get(COOKIE))

    def _viewing(self, request: web.Request) -> Session:
        """The session of a page request; otherwise off to the login page."""
        session = self._session(request)
        if session is None:
            raise web.HTTPSeeOther("/console/login")
        return session

    async def _acting(self, request: web.Request) -> Session:
        """The session of an action, with its CSRF token; otherwise 403."""
        session = self._session(request)
        form = await request.post()
        if session is None or not self._signer.csrf_ok(session, str(form.get("csrf", ""))):
            log.warning("console: action refused (no session or a bad CSRF token) from %s", request.remote)
            raise web.HTTPForbidden(text="Ação recusada: faça login de novo.")
        return session

    # Pages ----------------------------------------------------------------------------------------------------

    async def _calls(self, request: web.Request) -> web.Response:
        session = self._viewing(request)
        seq = self._live.seq  # before rendering: an update during the rendering is replayed, not lost
        calls = self._live.calls()
        return _html(
            calls_page(
                calls,
                csrf=self._signer.csrf(session),
                user=session.user,
                seq=seq,
                zone=self._zone,
                hands_over=self._hands_over,
            )
        )

    async def _call(self, request: web.Request) -> web.Response:
        session = self._viewing(request)
        seq, view = self._live.seq, await self._view(request.match_info["call_id"])
        return _html(
            call_page(
                view,
                csrf=self._signer.csrf(session),
                user=session.user,
                seq=seq,
                zone=self._zone,
                hands_over=self._hands_over,
            )
        )

    async def _timeline(self, request: web.Request) -> web.Response:
        """The waterfall alone: a live call's page redraws it as the call goes on."""
        self._viewing(request)
        view = await self._view(request.match_info["call_id"])
        return _html(waterfall(view))

    async def _view(self, call_id: str) -> CallView:
        """A call in progress or among the last ones kept; else an older call, rebuilt from the events log."""
        view = self._live.get(call_id)
        if view is None and len(call_id) <= 64:
            try:
                view = await asyncio.to_thread(lambda: replay(self._history(), call_id))
            except OSError as error:
                log.error("console: the events log cannot be read: %s", error)
                raise web.HTTPServiceUnavailable(text="Não foi possível ler o registro de eventos agora.") from None
        if view is None:
            raise web.HTTPNotFound(text="Chamada desconhecida.")
        return view

    async def _act(self, request: web.Request) -> web.StreamResponse:
        session = await self._acting(request)
        call_id, action = request.match_info["call_id"], request.match_info["action"]
        act = self._actions.hang_up if action == "hangup" else self._actions.hand_over
        if not await act(call_id):
            raise web.HTTPNotFound(text="Chamada desconhecida ou já encerrada.")
        log.warning("console: %s asked to %s call %s", session.user, action, call_id)
        raise web.HTTPSeeOther(f"/console/calls/{call_id}")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self._session(request) is None:
            raise web.HTTPUnauthorized()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        # The browser's automatic reconnection says where it was (Last-Event-ID); a fresh page, what it shows.
        after = _number(request.headers.get("Last-Event-ID")) or _number(request.query.get("after"))
        with contextlib.suppress(ConnectionResetError):  # the page went away (closed, reloaded)
            await self._stream_to(response, after)
        return response

    async def _stream_to(self, response: web.StreamResponse, after: int) -> None:
        async with self._live.stream(after) as updates:
            await response.write(b": connected\n\n")
            while True:
                try:
                    update = await asyncio.wait_for(updates.get(), PING_S)
                except TimeoutError:
                    await response.write(b": ping\n\n")  # a page that has gone is noticed here
                    continue
                if update is None:
                    await response.write(b"event: reload\ndata: {}\n\n")
                    return
                await response.write(f"id: {update['seq']}\ndata: {_json(update)}\n\n".encode())

    async def _audit_page(self, request: web.Request) -> web.Response:
        session = self._viewing(request)
        filters, search, error = parse_search(request.query, self._zone)
        found = None
        if search is not None:
            try:
                found = await self._audit(search, AUDIT_LIMIT)
            except AuditError as failure:
                log.error("console: the decisions log cannot be read: %s", failure)
                error = "Não foi possível ler o registro de decisões agora. Tente de novo em instantes."
        page = audit_page(
            found, filters, error=error, zone=self._zone, csrf=self._signer.csrf(session), user=session.user
        )
        return _html(page, status=200 if found is not None else 400 if search is None else 503)

    async def _audit_csv(self, request: web.Request) -> web.Response:
        self._viewing(request)
        _, search, error = parse_search(request.query, self._zone)
        if search is None:
            raise web.HTTPBadRequest(text=error)
        try:
            found = await self._audit(search, None)  # the whole search, not the page's first rows
        except AuditError as failure:
            log.error("console: the decisions log cannot be read: %s", failure)
            raise web.HTTPServiceUnavailable(text="Não foi possível ler o registro de decisões agora.") from None
        out = io.StringIO()
        write_csv(found.entries, out)
        return web.Response(
            text=out.getvalue(),
            content_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="portaria-decisoes.csv"'},
        )

    def _site(self, wanted: str) -> tuple[str, DirectoryFile]:
        """The site asked for (its id and directory); the first one when it is not a site's."""
        sites = self._sites()
        site = wanted if wanted in sites else next(iter(sites))
        return site, sites[site]

    async def _directory_page(self, request: web.Request) -> web.Response:
        session = self._viewing(request)
        site, file = self._site(request.query.get("site", ""))
        directory = file.current()  # also notices an edited file, as a call would
        notice = {"ok": "Arquivo recarregado.", "failed": "O arquivo não pôde ser recarregado."}.get(
            request.query.get("reloaded", ""), ""
        )
        return _html(
            directory_page(
                directory,
                path=file.path,
                problem=file.problem,
                notice=notice,
                csrf=self._signer.csrf(session),
                user=session.user,
                sites=list(self._sites()),
                site=site,
            )
        )

    async def _reload_directory(self, request: web.Request) -> web.StreamResponse:
        session = await self._acting(request)
        site, file = self._site(str((await request.post()).get("site", "")))
        loaded = file.reload()
        log.warning("console: %s reloaded %s's directory (%s)", session.user, site, "ok" if loaded else "failed")
        raise web.HTTPSeeOther(f"/console/directory?site={site}&reloaded={'ok' if loaded else 'failed'}")

    async def _settings_page(self, request: web.Request) -> web.Response:
        session = self._viewing(request)
        return _html(settings_page(self._settings, csrf=self._signer.csrf(session), user=session.user))

    async def _charts_page(self, request: web.Request) -> web.Response:
        session = self._viewing(request)
        now = self._clock()

        def charts() -> Charts:  # the whole log is read and reduced: off the loop, which plays every call's audio
            return build_charts(self._history(), now=now, zone=self._zone)

        try:
            drawn = await asyncio.to_thread(charts)
        except OSError as error:
            log.error("console: the events log cannot be read: %s", error)
            raise web.HTTPServiceUnavailable(text="Não foi possível ler o registro de eventos agora.") from None
        page = charts_page(drawn, zone_label=zone_name(self._zone), csrf=self._signer.csrf(session), user=session.user)
        return _html(page)


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=body,
        status=status,
        content_type="text/html",
        headers={
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )


def _number(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
