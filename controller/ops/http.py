"""The operations endpoints, served by the service itself on PORTARIA_CONSOLE_BIND (off when unset):

- ``GET /healthz``: the process answers (liveness);
- ``GET /readyz``: every readiness check, as JSON ``{"ready": bool, "checks": {name: {"ok": bool, "detail":
  str}}}``; 503 when any fails (ARI connected and our app registered, AudioSocket listening, speech loaded,
  audit store usable);
- ``GET /metrics``: Prometheus text format (:mod:`controller.ops.metrics`).

Nothing here carries a secret or a person's data; loopback unless configured otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from controller.ops.metrics import CallMetrics

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[tuple[bool, str]]]
CHECK_TIMEOUT_S = 2.0


class OpsServer:
    def __init__(
        self,
        host: str,
        port: int,
        metrics: CallMetrics,
        checks: dict[str, Check],
        pages: Callable[[web.Application], None] | None = None,
    ) -> None:
        """`pages` adds more routes (the operator console) to the same server."""
        self._host, self._port = host, port
        self._pages = pages
        self._metrics = metrics
        self._checks = checks
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics_page)
        if self._pages is not None:
            self._pages(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self.port = self._runner.addresses[0][1]
        log.info("operations endpoints on http://%s:%d (/healthz /readyz /metrics)", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def _readyz(self, _: web.Request) -> web.Response:
        results = await asyncio.gather(*(self._run(check) for check in self._checks.values()))
        checks = {name: {"ok": ok, "detail": detail} for name, (ok, detail) in zip(self._checks, results, strict=True)}
        ready = all(ok for ok, _ in results)
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def _metrics_page(self, _: web.Request) -> web.Response:
        return web.Response(body=self._metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @staticmethod
    async def _run(check: Check) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                return await check()
        except TimeoutError:
            return False, f"no answer within {CHECK_TIMEOUT_S:.0f} s"
        except Exception as error:  # a check that breaks is a failed check, never a failed endpoint
            return False, type(error).__name__
