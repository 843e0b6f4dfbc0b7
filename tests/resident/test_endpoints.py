"""Directory numbers to dial strings."""

from __future__ import annotations

import pytest

from controller.calls.endpoints import resolve_endpoint


@pytest.mark.parametrize(
    ("voip_number", "template", "dial"),
    [
        ("PJSIP/101", "PJSIP/{number}", "PJSIP/101"),
        ("Local/say-resident-sim+r1@resident-sim/n", "PJSIP/{number}", "Local/say-resident-sim+r1@resident-sim/n"),
        ("PJSIP/trunk/sip:101@pbx.local", "PJSIP/{number}", "PJSIP/trunk/sip:101@pbx.local"),
        ("101", "PJSIP/{number}", "PJSIP/101"),
        (" 1001 ", "PJSIP/{number}", "PJSIP/1001"),
        ("sip:101@pbx", "PJSIP/{number}", "PJSIP/101"),
        ("SIP:102@10.0.0.2:5060;transport=udp", "PJSIP/{number}", "PJSIP/102"),
        ("sips:103@pbx.local", "PJSIP/{number}", "PJSIP/103"),
        ("tel:+5511999990000", "PJSIP/{number}@trunk", "PJSIP/+5511999990000@trunk"),
        ("101", "Local/{number}@residents/n", "Local/101@residents/n"),
    ],
)
def test_resolve_endpoint(voip_number: str, template: str, dial: str) -> None:
    assert resolve_endpoint(voip_number, template) == dial


@pytest.mark.parametrize(
    ("voip_number", "template"), [("", "PJSIP/{number}"), ("sip:@pbx", "PJSIP/{number}"), ("101", "PJSIP/101")]
)
def test_resolve_endpoint_rejects(voip_number: str, template: str) -> None:
    with pytest.raises(ValueError):
        resolve_endpoint(voip_number, template)
