"""A small ARI client on aiohttp: REST calls and the Stasis events websocket.

Why our own: the ARI libraries we tried against Asterisk 22 here either put credentials in the URL (and so
in exception text), died when a consumer was slow, busy-looped after a websocket close, reordered events, or
could not reconnect (see README, "Why our own ARI client"). This one:

- sends credentials only in an Authorization header; URLs and errors never carry them;
- raises :class:`AriError` subclasses carrying the HTTP status (404 -> AriNotFound, 401/403 -> AriAuthError,
  409/422 -> AriConflict); network failures raise :class:`AriConnectionError`, which is also a ConnectionError;
- keeps the websocket alive with heartbeats (a ping after 2.5 s of quiet, a pong due within 1.25 s, so a blackholed
  socket is noticed within 3.75 s) and reconnects with capped exponential backoff, on a fresh connection pool;
- hands events to one callback in the order Asterisk sent them (the app fans them out to per-call queues).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

RawEvent = dict[str, Any]  # one decoded ARI message; controller.ari.events types it
Params = Mapping[str, str | int | float | bool]


class AriError(Exception):
    """An ARI request failed; `status` is the HTTP status (0 when no response arrived)."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"ARI {method} {path} -> {status or 'no response'}: {message}")
        self.status = status
        self.method = method
        self.path = path


class AriNotFound(AriError):
    pass


class AriConflict(AriError):
    pass


class AriAuthError(AriError):
    pass


class AriAppReplaced(Exception):
    """Another client connected with our app name and Asterisk gave it our app: taking it back would start a fight
    (each reconnect steals the app from the other), so the events loop ends instead."""


class AriConnectionError(AriError, ConnectionError):
    pass


def _error_for(status: int) -> type[AriError]:
    if status == 404:
        return AriNotFound
    if status in (401, 403):
        return AriAuthError
    if status in (409, 422):
        return AriConflict
    return AriError


class AriClient:
    """REST client. `path` arguments are relative to /ari (e.g. "channels/123/answer")."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        timeout: float = 5.0,
    ) -> None:
        self._base = base_url.rstrip("/") + "/ari/"
        self._headers = {"Authorization": aiohttp.encode_basic_auth(user, password)}
        self.app = app
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._retiring: set[asyncio.Task[None]] = set()  # old pools, closed once their requests had their time

    async def __aenter__(self) -> AriClient:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)

    async def close(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _renew(self) -> None:
        """A fresh connection pool: when the events socket died silently (a blackhole), the idle REST
        connections kept beside it are as dead, and a request on one would wait out its whole timeout.

        New requests take the new pool at once; the old one is closed only after the request timeout, so a
        request already under way on it (when only the websocket dropped, the others are fine) still finishes."""
        if self._session is not None:
            old, self._session = self._session, None
            await self.open()
            task = asyncio.create_task(self._retire(old), name="ari-retire-pool")
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, session: aiohttp.ClientSession) -> None:
        try:
            await asyncio.sleep(self._timeout.total or 0)
        finally:
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("AriClient used before open()")
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
    ) -> Any:
        query = {key: _param(value) for key, value in (params or {}).items()}
        try:
            async with self.session.request(method, self._base + path, params=query, json=body) as response:
                text = await response.text()
                if response.status >= 400:
                    raise _error_for(response.status)(response.status, method, path, _message(text))
                if not text:
                    return None
                return json.loads(text)
        except aiohttp.ClientError as error:
            raise AriConnectionError(0, method, path, type(error).__name__) from None
        except TimeoutError:
            raise AriConnectionError(0, method, path, "timed out") from None

    async def get(self, path: str, **params: str | int | float | bool) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any = None, **params: str | int | float | bool) -> Any:
        return await self.request("POST", path, params=params, body=body)

    async def delete(self, path: str, **params: str | int | float | bool) -> Any:
        return await self.request("DELETE", path, params=params)

    async def delete_quietly(self, path: str, **params: str | int | float | bool) -> bool:
        """DELETE that treats "already gone" as success (teardown paths); True if it was deleted by us."""
        try:
            await self.delete(path, **params)
        except AriNotFound:
            return False
        return True

    async def run_events(
        self,
        handler: Callable[[RawEvent], Awaitable[None]],
        *,
        on_connect: Callable[[bool], Awaitable[None]] | None = None,
        stop: asyncio.Event | None = None,
        heartbeat: float = 2.5,
        max_backoff: float = 10.0,
    ) -> None:
        """Receive events until `stop` is set, reconnecting with backoff.

        `on_connect(reconnected)` runs after each successful (re)connection, before the first event is
        handled: events are lost while the socket is down, so a reconnect must rebuild state from REST.
        Authentication failures are not retried: they raise AriAuthError. Another client taking our app
        (ApplicationReplaced) raises AriAppReplaced: reconnecting would take it back, and the two would fight.
        """
        stop = stop or asyncio.Event()
        attempt = 0
        connected_before = False
        url = self._base + "events"
        params = {"app": self.app, "subscribeAll": "false"}
        while not stop.is_set():
            try:
                async with self.session.ws_connect(url, params=params, heartbeat=heartbeat) as ws:
                    attempt = 0
                    log.info("ARI events connected (app %s)", self.app)
                    if on_connect is not None:
                        await on_connect(connected_before)
                    connected_before = True
                    await self._pump(ws, handler, stop)
            except aiohttp.WSServerHandshakeError as error:
                if error.status in (401, 403):
                    raise AriAuthError(error.status, "GET", "events", "ARI credentials refused") from None
                log.warning("ARI events handshake failed: HTTP %s", error.status)
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as error:
                log.warning("ARI events connection lost: %s", type(error).__name__)
            if stop.is_set():
                break
            await self._renew()
            attempt += 1
            delay = min(max_backoff, 0.25 * 2 ** min(attempt, 8)) * random.uniform(0.8, 1.2)
            log.info("ARI events reconnecting in %.1f s", delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass

    async def _pump(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        handler: Callable[[RawEvent], Awaitable[None]],
        stop: asyncio.Event,
    ) -> None:
        stop_task = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receive = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({receive, stop_task}, return_when=asyncio.FIRST_COMPLETED)
                if stop_task in done:
                    receive.cancel()
                    return
                message = receive.result()
                if message.type == aiohttp.WSMsgType.TEXT:
                    try:
                        event = json.loads(message.data)
                    except json.JSONDecodeError:
                        log.warning("ARI sent a non-JSON event; ignored")
                        continue
                    if isinstance(event, dict) and event.get("type") == "ApplicationReplaced":
                        raise AriAppReplaced(
                            f"another client took the ARI app {self.app!r}: this instance stops taking calls "
                            "(give each instance its own PORTARIA_ARI_APP)"
                        )
                    await handler(event)
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise ConnectionError("websocket closed")
        finally:
            stop_task.cancel()


def _param(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _message(text: str) -> str:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text.strip()[:200] or "no details"
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    return text.strip()[:200]
