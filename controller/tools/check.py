"""`python -m controller check`: validate settings, the directory (or the sites file), ARI reachability and credentials.

Each check prints one line; a failing check says what is wrong in one line and the command exits 1.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

from controller.ari.client import AriAuthError, AriClient, AriConnectionError, AriError
from controller.conversation.directory import DirectoryError
from controller.records.directory_file import load_directory
from controller.records.sites_file import SitesError, load_sites
from controller.settings import Settings, SettingsError, load_settings
from controller.wiring import speech_problems
from controller.wiring.parts import call_limit
from controller.wiring.sites import environment, voice_problem

Report = Callable[[bool, str], None]


def _print_report(ok: bool, line: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {line}")


async def _check_ari(settings: Settings, report: Report) -> bool:
    password = settings.require_ari().get_secret_value()
    async with AriClient(
        settings.ari_base, settings.ari_user, password, settings.ari_app, timeout=settings.ari_timeout_s
    ) as ari:
        try:
            info = await ari.get("asterisk/info")
        except AriAuthError:
            report(
                False, f"ARI at {settings.ari_base} refused user '{settings.ari_user}': wrong PORTARIA_ARI_PASSWORD?"
            )
            return False
        except AriConnectionError as error:
            report(False, f"cannot reach ARI at {settings.ari_base} ({error}); is Asterisk running with http.conf?")
            return False
        except AriError as error:
            report(False, f"ARI at {settings.ari_base} answered HTTP {error.status}")
            return False
    version = info.get("system", {}).get("version", "?") if isinstance(info, dict) else "?"
    report(True, f"ARI reachable at {settings.ari_base} as '{settings.ari_user}' (Asterisk {version})")
    return True


def _check_bind(settings: Settings, report: Report) -> bool:
    host, port = settings.bind_host_port
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as error:
        report(False, f"PORTARIA_AUDIOSOCKET_BIND {host}:{port} cannot be bound: {error.strerror}")
        return False
    report(True, f"AudioSocket address {host}:{port} is free; Asterisk will dial {settings.advertise_address}")
    return True


def _check_directory(settings: Settings, report: Report) -> bool:
    try:
        directory = load_directory(settings.directory)
    except DirectoryError as error:
        report(False, f"directory {error}")
        return False
    residents = sum(len(apartment.residents) for apartment in directory.apartments)
    report(True, f"directory {settings.directory}: {len(directory.apartments)} apartments, {residents} residents")
    return True


def _check_sites(settings: Settings, path: Path, report: Report) -> bool:
    try:
        sites = load_sites(path, environment())
    except SitesError as error:
        report(False, f"sites {error}")
        return False
    ok = True
    for site in sites:
        problem = voice_problem(site, settings)
        if problem:
            report(False, f"site {site.id}: {problem}")
            ok = False
            continue
        try:
            directory = load_directory(site.directory)
        except DirectoryError as error:
            report(False, f"site {site.id}: directory {error}")
            ok = False
            continue
        gates = ", ".join(site.gates)
        report(True, f"site {site.id} ({site.name}): gates {gates}; {len(directory.apartments)} apartments")
    return ok


def run_check(report: Report = _print_report, **overrides: object) -> int:
    try:
        settings = load_settings(**overrides)
        settings.require_ari()
    except SettingsError as error:
        report(False, f"settings: {error}")
        return 1
    report(True, "settings are valid")
    if settings.sites is not None:
        ok = _check_sites(settings, settings.sites, report)
    else:
        ok = _check_directory(settings, report)
    problems = speech_problems(settings)
    for problem in problems:
        report(False, f"speech: {problem}")
    if not problems:
        report(True, f"speech: {settings.stt_engine} recognition, {settings.tts_engine} synthesis")
    ok = not problems and ok
    limit = call_limit(settings)
    report(
        True,
        f"capacity: up to {limit} conversations at once, then a visitor rings up to {settings.queue_wait_s:g} s"
        if limit
        else "capacity: no limit on conversations at once (PORTARIA_MAX_CALLS)",
    )
    ok = _check_bind(settings, report) and ok
    ok = asyncio.run(_check_ari(settings, report)) and ok
    return 0 if ok else 1
