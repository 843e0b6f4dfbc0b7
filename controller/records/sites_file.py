"""The sites file: which condominium each gate belongs to, and how that condominium's calls go.

A remote-concierge central serves many condominiums from one Portaria. Each gate's call enters Stasis with the
gate's key (``Stasis(portaria,gate,<key>)``, or ``${EXTEN}`` as the key to go by the dialled extension), and the
sites file (TOML) says which site the key belongs to: its residents directory, greeting, concierge and gate
opener. Secrets are never in the file: an opener names the environment variable that holds its password.

The file is validated as a whole, the directories it names included: one bad site and nothing of the new version
is used. :class:`LiveSites` rereads it while Portaria runs and keeps the last good version, as the directory does.
"""

from __future__ import annotations

import logging
import os
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from controller.records.gate_opener import OpenerSpec

log = logging.getLogger(__name__)

T = TypeVar("T")

GateKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.+-]{1,64}$")]


class SitesError(Exception):
    """The sites file cannot be used; the message names the file, the site and the field (never a secret)."""


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """One condominium as the sites file describes it. None: the setting of the same name applies."""

    id: str
    name: str
    gates: tuple[str, ...]
    directory: Path
    greeting: str | None = None
    concierge: str | None = None  # "" means none: a hand-over ends the call politely
    opener: OpenerSpec | None = None
    delivery: str | None = None  # a DeliveryPolicy value: what a courier does when nobody answers
    notify: NotifySpec | None = None
    voice: str | None = None  # a Kokoro voice pack (checked against the engine where the engines are built)


@dataclass(frozen=True, slots=True)
class NotifySpec:
    """Where the site's notes to residents go (a webhook), its token taken from the environment."""

    url: str
    token: str = field(default="", repr=False)


class _Opener(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "dtmf", "http"] = "dtmf"
    dtmf: str = Field(default="#", pattern=r"^[0-9A-Da-d*#]{1,20}$")
    preset: Literal["hikvision", "intelbras", "dahua", "2n", "webhook"] = "hikvision"
    url: str = ""
    auth: Literal["auto", "digest", "basic", "none"] = "auto"
    user: str = ""
    password_env: str = Field(default="", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")
    token_env: str = Field(default="", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")
    door: int = Field(default=1, ge=1, le=64)
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class _Notify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    token_env: str = Field(default="", pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$")


class _Site(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    name: str = Field(min_length=1)
    gates: list[GateKey] = Field(min_length=1)
    directory: Path
    greeting: str | None = Field(default=None, min_length=1)
    concierge: str | None = None
    opener: _Opener | None = None
    delivery: Literal["portaria", "zelador", "voltar", "armario"] | None = None
    notify: _Notify | None = None
    voice: str | None = Field(default=None, pattern=r"^[a-z]{2}_[a-z]{1,30}$")


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: list[_Site] = Field(min_length=1)


def parse_sites(text: str, origin: str, base: Path, environ: Mapping[str, str]) -> tuple[SiteSpec, ...]:
    """The sites in TOML `text` (from `origin`, for messages), directories relative to `base`, secrets from
    `environ`. Raises SitesError naming the first problems found."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SitesError(f"{origin}: not valid TOML ({error})") from None
    for index, site in enumerate(raw.get("site", []) if isinstance(raw.get("site"), list) else []):
        opener = site.get("opener") if isinstance(site, dict) else None
        leaked = sorted({"password", "token"} & set(opener)) if isinstance(opener, dict) else []
        if leaked:
            raise SitesError(
                f"{origin}: site {_label(raw, index)}: opener.{leaked[0]}: secrets do not go in the sites file; "
                f"put it in the environment (or .env) and name the variable with {leaked[0]}_env"
            )
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as error:
        raise SitesError(f"{origin}: {_describe(error, raw)}") from None
    seen_ids: set[str] = set()
    owner: dict[str, str] = {}
    specs = []
    for site in parsed.site:
        if site.id in seen_ids:
            raise SitesError(f"{origin}: site id {site.id!r} is used twice")
        seen_ids.add(site.id)
        for gate in site.gates:
            if gate in owner:
                raise SitesError(f"{origin}: gate {gate!r} belongs to both {owner[gate]!r} and {site.id!r}")
            owner[gate] = site.id
        opener = _opener(site.opener, site.id, origin, environ) if site.opener is not None else None
        directory = site.directory if site.directory.is_absolute() else base / site.directory
        concierge = site.concierge.strip() if site.concierge is not None else None
        notify = None
        if site.notify is not None:
            token = _secret(site.notify.token_env, f"{origin}: site {site.id!r}: notify.token_env", environ)
            notify = NotifySpec(site.notify.url, token)
        specs.append(
            SiteSpec(
                site.id,
                site.name,
                tuple(site.gates),
                directory,
                site.greeting,
                concierge,
                opener,
                site.delivery,
                notify,
                site.voice,
            )
        )
    return tuple(specs)


def load_sites(path: Path, environ: Mapping[str, str]) -> tuple[SiteSpec, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SitesError(f"{path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise SitesError(f"{path}: is not UTF-8 text") from None
    return parse_sites(text, str(path), path.parent, environ)


def _secret(variable: str, where: str, environ: Mapping[str, str]) -> str:
    if variable and not environ.get(variable):
        raise SitesError(f"{where} names {variable}, which is not set")
    return environ.get(variable, "") if variable else ""


def _opener(entry: _Opener, site: str, origin: str, environ: Mapping[str, str]) -> OpenerSpec:
    secrets = {
        name: _secret(getattr(entry, f"{name}_env"), f"{origin}: site {site!r}: opener.{name}_env", environ)
        for name in ("password", "token")
    }
    return OpenerSpec(
        kind=entry.kind,
        dtmf=entry.dtmf,
        preset=entry.preset,
        url=entry.url,
        auth=entry.auth,
        user=entry.user,
        password=secrets["password"],
        token=secrets["token"],
        door=entry.door,
        timeout_s=entry.timeout_s,
    )


def _label(raw: Mapping[str, object], index: int) -> str:
    sites = raw.get("site")
    entry = sites[index] if isinstance(sites, list) and index < len(sites) else None
    name = entry.get("id") if isinstance(entry, dict) else None
    return repr(name) if isinstance(name, str) else f"#{index + 1}"


def _describe(error: ValidationError, raw: Mapping[str, object]) -> str:
    lines = []
    for item in error.errors()[:3]:
        location = list(item["loc"])
        where = "sites"
        if location[:1] == ["site"] and len(location) > 1 and isinstance(location[1], int):
            where = f"site {_label(raw, location[1])}"
            location = location[2:]
        field_name = ".".join(str(part) for part in location)
        message = "is missing" if item["type"] == "missing" else item["msg"]
        lines.append(f"{where}: {field_name}: {message}" if field_name else f"{where}: {message}")
    return "; ".join(lines)


class LiveSites(Generic[T]):
    """The sites of a file edited while Portaria runs, each made into a `T` by `build` (the wiring's parts for
    a site: its live directory, opener and call settings).

    :meth:`site_for` looks at the file at most every `check_every_s`. A new version is used only once it parses
    and every changed site builds (`build` raises SitesError, or ValueError for what it cannot set up);
    otherwise it is logged and the last good version stays. A site whose entry did not change keeps its `T`.
    The first load must succeed.
    """

    def __init__(
        self,
        path: Path,
        environ: Mapping[str, str],
        build: Callable[[SiteSpec], T],
        *,
        check_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._environ = environ
        self._build = build
        self._check_every_s = check_every_s
        self._clock = clock
        self._specs: dict[str, SiteSpec] = {}
        self._sites: dict[str, T] = {}
        self._gates: dict[str, str] = {}
        self.built: list[T] = []  # everything ever built, for the composition root to close at the end
        self.problem: str | None = None
        self._signature = self._stat()
        self._use(load_sites(path, environ))
        self._checked_at = clock()

    @property
    def path(self) -> Path:
        return self._path

    def sites(self) -> dict[str, T]:
        self._maybe_reload()
        return dict(self._sites)

    def site_for(self, gate: str) -> T | None:
        """The site `gate` belongs to; with no key given and a single site, that one. None: no such gate."""
        self._maybe_reload()
        if not gate and len(self._sites) == 1:
            return next(iter(self._sites.values()))
        site = self._gates.get(gate)
        return self._sites[site] if site is not None else None

    def reload(self) -> bool:
        """Read the file now; False when the new version is not usable (the last good one stays)."""
        self._checked_at, self._signature = self._clock(), self._stat()
        try:
            self._use(load_sites(self._path, self._environ))
        except (SitesError, ValueError) as error:
            self.problem = str(error)
            log.error("sites file not reloaded, keeping the last good version: %s", error)
            return False
        self.problem = None
        log.info("sites file reloaded from %s (%d sites)", self._path, len(self._sites))
        return True

    def _maybe_reload(self) -> None:
        now = self._clock()
        if now - self._checked_at < self._check_every_s:
            return
        self._checked_at = now
        signature = self._stat()
        if signature != self._signature:
            self.reload()

    def _use(self, specs: tuple[SiteSpec, ...]) -> None:
        sites: dict[str, T] = {}
        fresh: list[T] = []
        for spec in specs:
            if self._specs.get(spec.id) == spec:
                sites[spec.id] = self._sites[spec.id]
                continue
            try:
                site = self._build(spec)
            except (SitesError, ValueError) as error:
                self.built.extend(fresh)  # built for a version that is not used: still closed at the end
                raise SitesError(f"{self._path}: site {spec.id!r}: {error}") from None
            sites[spec.id] = site
            fresh.append(site)
        self.built.extend(fresh)
        self._specs = {spec.id: spec for spec in specs}
        self._sites = sites
        self._gates = {gate: spec.id for spec in specs for gate in spec.gates}

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self._path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)
