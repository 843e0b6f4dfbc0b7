"""A local OpenAI-compatible chat-completions server: the test double of a cloud LLM at its HTTP boundary.

It records every request and answers each turn with a :class:`Reply`: the one `replies` maps the visitor's words
to, else what `fallback(turn)` returns (`turn` is the user message the backend sent: ``visitor_said``,
``already_known``, ``concierge_waiting_for``...), else an empty reading. Run it in the test's own event loop
(:func:`serving`) or in a thread of its own (:func:`serving_in_thread`, for synchronous callers).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """How the fake server answers one utterance."""

    content: str | None = None  # the assistant message (a JSON object for a good answer)
    status: int = 200
    delay_s: float = 0.0
    body: str | None = None  # a raw response body instead of a chat completion


def answer(**fields: Any) -> Reply:
    return Reply(content=json.dumps(fields, ensure_ascii=False))


@dataclass
class FakeLlm:
    """An OpenAI-compatible chat-completions server; `replies` maps the visitor's words to a Reply."""

    replies: dict[str, Reply] = field(default_factory=dict)
    fallback: Callable[[dict[str, Any]], Reply] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @staticmethod
    def turn(request: dict[str, Any]) -> dict[str, Any]:
        """The user message of a recorded request (the backend sends the turn as a JSON object)."""
        turn: dict[str, Any] = json.loads(request["body"]["messages"][-1]["content"])
        return turn

    def said(self, request: dict[str, Any]) -> str:
        return str(self.turn(request)["visitor_said"])

    def reply_for(self, request: dict[str, Any]) -> Reply:
        reply = self.replies.get(self.said(request))
        if reply is None and self.fallback is not None:
            reply = self.fallback(self.turn(request))
        return reply or answer(intent="desconhecido")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            {"method": request.method, "path": request.path, "headers": dict(request.headers), "body": body}
        )
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return web.Response(status=404, text="not here")
        reply = self.reply_for(self.requests[-1])
        await asyncio.sleep(reply.delay_s)
        if reply.body is not None or reply.status != 200:
            return web.Response(
                status=reply.status,
                text=reply.body or '{"error": {"message": "boom"}}',
                content_type="application/json",
            )
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": self.requests[-1]["body"]["model"],
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply.content}}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return web.json_response(completion)


@asynccontextmanager
async def serving(fake: FakeLlm) -> AsyncIterator[FakeLlm]:
    """Serve `fake` on 127.0.0.1 (a free port) in the running event loop."""
    runner = web.AppRunner(web.Application())
    runner.app.router.add_route("*", "/{tail:.*}", fake.handle)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = runner.addresses[0][1]
    try:
        yield fake
    finally:
        await runner.cleanup()


@contextmanager
def serving_in_thread(fake: FakeLlm) -> Iterator[FakeLlm]:
    """Serve `fake` from an event loop in its own thread (usable from synchronous code too)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(web.Application())

    async def start() -> None:
        runner.app.router.add_route("*", "/{tail:.*}", fake.handle)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        fake.port = runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    assert ready.wait(10), "fake LLM server did not start"
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
