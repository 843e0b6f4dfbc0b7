"""Optional understanding by a language model through CrewAI: one structured call per visitor turn.

CrewAI is an optional extra and heavy to import (seconds, hundreds of MB), so it is imported only by
:meth:`LlmUnderstanding.create` when ``PORTARIA_UNDERSTANDING=llm``, never at module import. The call is CrewAI's
native async one (``LLM.acall``: httpx under the hood), so the event loop never waits on the network, and a
timeout cancels the request. :class:`~controller.understanding.fallback.WithFallback` puts the deadline on it and
lets the rules answer when the model is late or fails. The request and the distrust of the answer are
:mod:`controller.conversation.reading`'s.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import logging
import os
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from controller.conversation.reading import Reading, parse_answer, prompt_messages, to_understood
from controller.conversation.understanding import UnderstandingContext, UnderstandingError, Understood

log = logging.getLogger(__name__)


# CrewAI's own telemetry and tracing would send data (visitors' words among it) to crewAI's servers: always off.
TELEMETRY_OFF: Final = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
}


class LlmSetupError(Exception):
    """The LLM backend cannot be built (extra not installed, model refused); the message names no secret."""


@dataclass(frozen=True, slots=True)
class LlmConfig:
    model: str
    timeout_s: float
    api_key: str | None = None
    base_url: str | None = None


class LlmUnderstanding:
    """:class:`~controller.conversation.understanding.Understanding` by one CrewAI ``LLM.acall`` per utterance.

    Build it with :meth:`create` (imports CrewAI) and wrap it in ``WithFallback`` (as the composition root
    does): it raises :class:`UnderstandingError` on any failure, with a message that
    never contains the API key.
    """

    def __init__(
        self, llm: Any, secret: str | None = None, no_retry: contextvars.ContextVar[bool] | None = None
    ) -> None:
        self._llm = llm  # a crewai.LLM (or anything with the same `acall`)
        self._secret = secret
        self._no_retry = no_retry

    @classmethod
    def create(cls, config: LlmConfig) -> LlmUnderstanding:
        llm_class = _import_crewai_llm()
        secret = config.api_key or None
        options: dict[str, Any] = {
            "model": config.model,
            "timeout": config.timeout_s,
            "max_retries": 0,  # WithFallback's rules are the retry: one request per turn
            "temperature": 0.0,
            "response_format": Reading,
        }
        if config.base_url is not None:
            options["base_url"] = config.base_url.rstrip("/")
        if secret:
            options["api_key"] = secret
            _redact_root_records(secret)
        try:
            llm = llm_class(**options)
        except Exception as error:
            reason = _scrub(f"{type(error).__name__}: {error}", secret)
            raise LlmSetupError(f"LLM_MODEL={config.model!r}: CrewAI cannot use it ({reason})") from None
        return cls(llm, secret, _retry_guard())

    async def understand(self, text: str, context: UnderstandingContext) -> Understood:
        token = self._no_retry.set(True) if self._no_retry is not None else None
        try:
            answer = await self._llm.acall(prompt_messages(text, context))
        except Exception as error:  # the SDK's errors may quote the request; never let the key through
            raise UnderstandingError(_scrub(f"{type(error).__name__}: {error}", self._secret)) from None
        finally:
            if token is not None and self._no_retry is not None:
                self._no_retry.reset(token)
        try:
            reading = parse_answer(answer)
        except ValidationError as error:
            raise UnderstandingError(f"the model's answer does not fit: {error.error_count()} errors") from None
        return to_understood(reading, context)


def _import_crewai_llm() -> Any:
    os.environ.update(TELEMETRY_OFF)  # before the import: crewAI reads these when it sets telemetry up
    try:
        crewai = importlib.import_module("crewai")
    except ImportError as error:
        raise LlmSetupError(
            "UNDERSTANDING=llm needs the optional 'llm' extra (CrewAI), which is not installed "
            f"({error}); install it with `uv sync --extra llm` or `pip install 'portaria[llm]'`"
        ) from None
    # The OpenAI SDK imports its resource modules on the first request (~0.5 s): do it now, not inside a call.
    with contextlib.suppress(ImportError):
        importlib.import_module("openai.resources")
    # CrewAI prints every failed call as a console panel quoting the provider's error; Portaria logs its own line.
    with contextlib.suppress(ImportError, AttributeError):
        importlib.import_module("crewai.events.event_listener").event_listener.formatter.verbose = False
    return crewai.LLM


def _retry_guard() -> contextvars.ContextVar[bool] | None:
    """CrewAI's flag that makes ``acall`` skip its own rate-limit retry (set while a retry runs, to avoid nesting).

    Set during our call so a 429 costs one request, not three spread over seconds of the turn's deadline. The
    flag is private to CrewAI: if it moves, retries come back but nothing breaks (the deadline still holds).
    """
    with contextlib.suppress(ImportError):
        flag = getattr(importlib.import_module("crewai.llms.retry"), "_active_llm_rate_limit_retry", None)
        if isinstance(flag, contextvars.ContextVar):
            return flag
    return None


class _Redact(logging.Filter):
    """Masks `secret` in records logged on the root logger, where CrewAI logs the provider's error text."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "***"), None
        return True


def _redact_root_records(secret: str) -> None:
    root = logging.getLogger()
    if not any(isinstance(known, _Redact) and known.secret == secret for known in root.filters):
        root.addFilter(_Redact(secret))


def _scrub(message: str, secret: str | None) -> str:
    if secret:
        message = message.replace(secret, "***")
    return message[:300]
