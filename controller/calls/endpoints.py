"""Dial strings for the residents' phones: the directory's ``voip_number`` as Asterisk's originate wants it.

The directory may hold a full dial string (``PJSIP/101``, ``Local/101@residents/n``, ``PJSIP/trunk/sip:101@pbx``),
which is used as it is, or, as the prototype did, a plain number (``101``) or a SIP URI (``sip:101@pbx.local``,
``tel:+5511...``). Those two go through PORTARIA_ENDPOINT_TEMPLATE (default ``PJSIP/{number}``), with the number
being the URI's user part: ``sip:101@pbx`` becomes ``PJSIP/101``, that is, the URI is taken to name an endpoint of
this Asterisk. To reach another PBX, write the full dial string in the directory
(``PJSIP/pbx-trunk/sip:101@pbx.local``) or set the template to ``PJSIP/{number}@pbx-trunk``.
"""

from __future__ import annotations

import re

_TECHNOLOGY = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*/\S")
_URI = re.compile(r"^(?:sips?|tel):", re.IGNORECASE)


def resolve_endpoint(voip_number: str, template: str) -> str:
    """The dial string for `voip_number`; ValueError when it is empty or the template has no ``{number}``."""
    value = voip_number.strip()
    if not value:
        raise ValueError("empty voip_number")
    if _TECHNOLOGY.match(value):
        return value
    number = value
    if _URI.match(value):
        number = value.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
        if not number:
            raise ValueError(f"no user part in {voip_number!r}")
    if "{number}" not in template:
        raise ValueError(f"endpoint template {template!r} has no {{number}}")
    return template.replace("{number}", number)
