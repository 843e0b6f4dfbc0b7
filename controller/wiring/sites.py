"""Settings and the sites file -> the parts each site's calls use: its live directory, its call settings
(greeting, concierge) and its gate opener.

Without PORTARIA_SITES one site is made of the single-gate settings and every gate's call is its call, as
before sites existed. With it, a call belongs to the site its gate key names (controller.records.sites_file).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from dotenv import dotenv_values

from audiosocket.speech.kokoro import VOICES
from controller.calls.deps import CallConfig
from controller.conversation.directory import Directory, DirectoryError
from controller.conversation.events import DeliveryPolicy
from controller.records.directory_file import LiveDirectory
from controller.records.gate_opener import GateOpener, SendDtmf, build_opener
from controller.records.notifier import Notifier, WebhookNotifier
from controller.records.sites_file import LiveSites, SitesError, SiteSpec
from controller.settings import Settings, TtsEngine
from controller.wiring.parts import gate_opener

DEFAULT_SITE = "default"


def environment() -> dict[str, str]:
    """Where a sites file's secrets are looked up: the environment, then .env (as the settings themselves)."""
    return {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}


@dataclass(frozen=True, slots=True, eq=False)
class SiteParts:
    id: str
    name: str
    directory: LiveDirectory
    opener: GateOpener
    greeting: str | None = None  # None: the settings' (and so for the concierge and the delivery policy)
    concierge: str | None = None
    delivery: DeliveryPolicy | None = None
    notifier: Notifier | None = None  # where its notes to residents go (None: nowhere)
    voice: str | None = None  # its Kokoro voice pack (None: the settings')

    def config(self, base: CallConfig) -> CallConfig:
        """The call settings of this site's calls: `base` (the settings'), with the site's own."""
        concierge = base.concierge_endpoint if self.concierge is None else self.concierge
        policy = dataclasses.replace(
            base.policy,
            greeting=self.greeting or base.policy.greeting,
            concierge_available=bool(concierge),
            delivery=self.delivery or base.policy.delivery,
            notify_residents=self.notifier is not None,
        )
        return dataclasses.replace(base, policy=policy, concierge_endpoint=concierge)


class Sites(Protocol):
    def site_for(self, gate: str) -> SiteParts | None:
        """The site of the gate whose key is `gate` ("" when the dialplan gave none); None: no such gate."""

    def sites(self) -> dict[str, SiteParts]: ...

    def built(self) -> list[SiteParts]:
        """Every site made, replaced ones too: the composition root closes their openers and notifiers."""


class SingleSite:
    """The one-site default: the single-gate settings, for every gate."""

    def __init__(self, site: SiteParts) -> None:
        self._site = site

    def site_for(self, gate: str) -> SiteParts:
        return self._site

    def sites(self) -> dict[str, SiteParts]:
        return {self._site.id: self._site}

    def built(self) -> list[SiteParts]:
        return [self._site]


class FileSites:
    """The sites of PORTARIA_SITES, reloaded while Portaria runs (the last good version kept)."""

    def __init__(self, live: LiveSites[SiteParts]) -> None:
        self.live = live

    def site_for(self, gate: str) -> SiteParts | None:
        return self.live.site_for(gate)

    def sites(self) -> dict[str, SiteParts]:
        return self.live.sites()

    def built(self) -> list[SiteParts]:
        return list(self.live.built)


def build_sites(
    settings: Settings,
    send_dtmf: SendDtmf,
    environ: Mapping[str, str],
    on_reload: Callable[[Directory, str | None], None] | None = None,
) -> Sites:
    """The sites the settings ask for; SettingsError or SitesError when they cannot be used."""
    token = settings.notify_token.get_secret_value() if settings.notify_token else ""
    notifier = WebhookNotifier(settings.notify_url, token=token) if settings.notify_url else None
    delivery = DeliveryPolicy(settings.delivery_policy)
    if settings.sites is None:
        reloaded = None if on_reload is None else functools.partial(_reloaded, on_reload, None)
        directory = LiveDirectory(settings.directory, on_reload=reloaded)
        opener = gate_opener(settings, send_dtmf)
        return SingleSite(
            SiteParts(DEFAULT_SITE, settings.gate_name, directory, opener, None, None, delivery, notifier)
        )

    def build(spec: SiteSpec) -> SiteParts:
        problem = voice_problem(spec, settings)
        if problem:
            raise SitesError(problem)
        reloaded = None if on_reload is None else functools.partial(_reloaded, on_reload, spec.voice)
        try:
            directory = LiveDirectory(spec.directory, on_reload=reloaded)
        except DirectoryError as error:
            raise SitesError(f"directory: {error}") from None
        opener = gate_opener(settings, send_dtmf) if spec.opener is None else build_opener(spec.opener, send_dtmf)
        notes = notifier if spec.notify is None else WebhookNotifier(spec.notify.url, token=spec.notify.token)
        policy = DeliveryPolicy(spec.delivery) if spec.delivery else delivery
        return SiteParts(
            spec.id, spec.name, directory, opener, spec.greeting, spec.concierge, policy, notes, spec.voice
        )

    return FileSites(LiveSites(settings.sites, environ, build))


def voice_problem(spec: SiteSpec, settings: Settings) -> str:
    """Why the site's voice cannot be used with these settings ("" when it can, or it has none)."""
    if spec.voice is None:
        return ""
    if spec.voice not in VOICES:
        return f"voice {spec.voice!r} is not a Kokoro voice; choose one of {', '.join(VOICES)}"
    if settings.tts_engine is not TtsEngine.KOKORO:
        return f"voice {spec.voice!r}: a site's own voice needs PORTARIA_TTS_ENGINE=kokoro"
    return ""


def _reloaded(on_reload: Callable[[Directory, str | None], None], voice: str | None, directory: Directory) -> None:
    on_reload(directory, voice)
