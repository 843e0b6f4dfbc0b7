"""Residents directory: the model and the validation of `data/apartamentos.json` text (pure: no file access).

The prototype's format is a JSON list of apartments, and it keeps loading unchanged::

    [{"apartment_number": "101", "residents": ["Renata Souza", "Carlos Souza"], "voip_number": "PJSIP/101"}]

The extended format adds, all optional:

- ``"block"`` on an apartment: the block or tower ("A", "2"); the same number may then exist in several blocks,
  and (block, number) must be unique;
- a resident may be an object instead of a name:
  ``{"name": "José Almeida", "nicknames": ["Zé", "Zezinho"], "endpoint": "PJSIP/jose-celular"}`` where
  ``nicknames`` are what visitors call them and ``endpoint`` rings that resident instead of the apartment's
  ``voip_number``;
- ``"phones"`` on an apartment: the numbers to ring, in order ("a hierarquia de números"), each a dial string or
  ``{"endpoint": "PJSIP/renata-celular", "ring_s": 20, "name": "Renata Souza"}`` (how long it rings, whom it
  reaches); each is rung once, then the next, then the concierge. Without it: the resident asked for, then the
  apartment's other residents, each on their own endpoint or the ``voip_number``;
- ``"ring_all": true`` on an apartment: all its phones ring at once, the first to answer decides and the others
  stop.

Validation names the entry and field at fault, so an administrator can fix the file without reading code.
Reading the file and reloading it live is :mod:`controller.records.directory_file`'s job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class DirectoryError(Exception):
    """The directory file cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Resident:
    name: str
    nicknames: tuple[str, ...] = ()
    endpoint: str | None = None  # rings this resident directly instead of the apartment's voip_number


@dataclass(frozen=True, slots=True)
class Phone:
    endpoint: str
    ring_s: float | None = None  # None: the settings' ring timeout
    name: str | None = None  # whom it reaches, when the administrator said


@dataclass(frozen=True, slots=True)
class Apartment:
    number: str
    residents: tuple[str, ...]
    voip_number: str
    block: str | None = None
    people: tuple[Resident, ...] = field(default=())
    phones: tuple[Phone, ...] = ()  # an explicit ring list, in order
    ring_all: bool = False

    def __post_init__(self) -> None:
        if not self.people:
            object.__setattr__(self, "people", tuple(Resident(name) for name in self.residents))

    @property
    def label(self) -> str:
        """How the apartment is named to people: '101' or '101, bloco A'."""
        return f"{self.number}, bloco {self.block}" if self.block else self.number

    def endpoint_for(self, resident: str) -> str:
        for person in self.people:
            if person.name == resident and person.endpoint:
                return person.endpoint
        return self.voip_number


@dataclass(frozen=True, slots=True)
class Directory:
    apartments: tuple[Apartment, ...]

    def find(self, number: str, block: str | None = None) -> Apartment | None:
        """The apartment with this number (in this block, when given); the first one if blocks repeat it."""
        for apartment in self.apartments:
            if apartment.number == number and (block is None or apartment.block == block):
                return apartment
        return None

    def units(self, number: str) -> tuple[Apartment, ...]:
        """Every apartment with this number: several when blocks repeat numbers."""
        return tuple(apartment for apartment in self.apartments if apartment.number == number)

    @property
    def has_blocks(self) -> bool:
        return any(apartment.block for apartment in self.apartments)


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _resident(where: str, position: int, raw: Any) -> Resident:
    at = f"{where}: residents[{position}]"
    if isinstance(raw, str):
        if not raw.strip():
            raise DirectoryError(f"{at} must be a non-empty name")
        return Resident(raw.strip())
    if not isinstance(raw, dict):
        raise DirectoryError(f"{at} must be a name or an object with 'name'")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise DirectoryError(f"{at}: field 'name' is missing or empty")
    nicknames = raw.get("nicknames", [])
    if not isinstance(nicknames, list) or not all(isinstance(nick, str) and nick.strip() for nick in nicknames):
        raise DirectoryError(f"{at} ({name.strip()}): field 'nicknames' must be a list of non-empty names")
    endpoint = raw.get("endpoint")
    if endpoint is not None and _text(endpoint) is None:
        raise DirectoryError(f"{at} ({name.strip()}): field 'endpoint' must be a non-empty string")
    unknown = set(raw) - {"name", "nicknames", "endpoint"}
    if unknown:
        raise DirectoryError(f"{at} ({name.strip()}): unknown field(s) {', '.join(sorted(unknown))}")
    return Resident(name.strip(), tuple(nick.strip() for nick in nicknames), _text(endpoint))


def _apartment(index: int, raw: Any) -> Apartment:
    where = f"entry {index}"
    if not isinstance(raw, dict):
        raise DirectoryError(f"{where}: must be an object, got {type(raw).__name__}")
    number = _text(raw.get("apartment_number"))
    if number is None:
        raise DirectoryError(f"{where}: field 'apartment_number' is missing or empty")
    where = f"entry {index} (apartment {number})"
    block = raw.get("block")
    if block is not None:
        block = _text(block)
        if block is None:
            raise DirectoryError(f"{where}: field 'block' must be a non-empty string or number")
        block = block.upper()
        where = f"entry {index} (apartment {number}, block {block})"
    residents = raw.get("residents")
    if not isinstance(residents, list) or not residents:
        raise DirectoryError(f"{where}: field 'residents' must be a non-empty list of names")
    people = tuple(_resident(where, position, item) for position, item in enumerate(residents))
    voip = _text(raw.get("voip_number"))
    if voip is None:
        raise DirectoryError(f"{where}: field 'voip_number' is missing or empty")
    phones = _phones(where, raw.get("phones"))
    ring_all = raw.get("ring_all", False)
    if not isinstance(ring_all, bool):
        raise DirectoryError(f"{where}: field 'ring_all' must be true or false")
    return Apartment(number, tuple(person.name for person in people), voip, block, people, phones, ring_all)


def _phones(where: str, raw: Any) -> tuple[Phone, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise DirectoryError(f"{where}: field 'phones' must be a non-empty list of phones")
    phones = []
    for position, item in enumerate(raw):
        at = f"{where}: phones[{position}]"
        if _text(item) is not None and not isinstance(item, int):
            phones.append(Phone(str(_text(item))))
            continue
        if not isinstance(item, dict) or _text(item.get("endpoint")) is None:
            raise DirectoryError(f"{at} must be a dial string or an object with 'endpoint'")
        unknown = set(item) - {"endpoint", "ring_s", "name"}
        if unknown:
            raise DirectoryError(f"{at}: unknown field(s) {', '.join(sorted(unknown))}")
        ring_s = item.get("ring_s")
        if ring_s is not None and (
            isinstance(ring_s, bool) or not isinstance(ring_s, int | float) or not 1 <= ring_s <= 300
        ):
            raise DirectoryError(f"{at}: field 'ring_s' must be a number of seconds from 1 to 300")
        name = item.get("name")
        if name is not None and _text(name) is None:
            raise DirectoryError(f"{at}: field 'name' must be a non-empty string")
        phones.append(Phone(str(_text(item["endpoint"])), float(ring_s) if ring_s is not None else None, _text(name)))
    return tuple(phones)


def parse_directory(text: str, source: str = "directory") -> Directory:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise DirectoryError(f"{source}: not valid JSON ({where}: {error.msg})") from None
    if not isinstance(raw, list):
        raise DirectoryError(f"{source}: must be a JSON list of apartments")
    apartments = tuple(_apartment(index, item) for index, item in enumerate(raw))
    seen: set[tuple[str | None, str]] = set()
    for apartment in apartments:
        key = (apartment.block, apartment.number)
        if key in seen:
            raise DirectoryError(f"{source}: apartment {apartment.label} appears more than once")
        seen.add(key)
    return Directory(apartments)
