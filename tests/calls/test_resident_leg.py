"""Which channel is the resident's leg across a call's dials: only the one that answered the current dial."""

from __future__ import annotations

from controller.calls.resident_leg import ResidentChannels


def test_a_new_dial_after_an_answered_one_is_nobodys_leg_until_it_answers() -> None:
    owned: set[str] = set()
    resident = ResidentChannels("c1", owned)
    first = resident.ring(["PJSIP/101"])
    resident.picked_up(first[0][0], first)
    assert resident.is_leg(first[0][0])
    resident.forget(first[0][0])  # that resident hung up; the call rings the next phone

    second = resident.ring(["PJSIP/101b"])
    ringing = second[0][0]
    assert ringing != first[0][0] and ringing in owned
    assert not resident.is_leg(ringing)  # its end while ringing is "not reached", not "the resident left"
    resident.picked_up(ringing, second)
    assert resident.is_leg(ringing)


def test_the_other_phones_of_a_ring_all_step_are_let_go_when_one_answers() -> None:
    owned: set[str] = set()
    resident = ResidentChannels("c2", owned)
    dials = resident.ring(["PJSIP/a", "PJSIP/b", "PJSIP/c"])
    assert resident.also_ringing == (dials[1][0], dials[2][0])
    resident.picked_up(dials[1][0], dials)
    assert owned == {dials[1][0]} and resident.is_leg(dials[1][0]) and not resident.is_leg(dials[0][0])
