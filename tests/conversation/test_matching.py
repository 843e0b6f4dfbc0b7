"""Resident matching against the directory: nicknames, misspellings, sounds, surnames, and never guessing."""

from __future__ import annotations

import pytest

from controller.conversation.directory import Directory, parse_directory
from controller.conversation.matching import Candidate, Outcome, ResidentIndex, Resolution


@pytest.fixture(scope="module")
def index(sample: Directory) -> ResidentIndex:
    return ResidentIndex(sample)


@pytest.fixture(scope="module")
def condo_index(condo: Directory) -> ResidentIndex:
    return ResidentIndex(condo)


@pytest.mark.parametrize(
    ("heard", "resident", "apartment"),
    [
        ("renata", "Renata Souza", "101"),
        ("Renata Souza", "Renata Souza", "101"),
        ("renatta", "Renata Souza", "101"),  # misheard spelling
        ("dona bia", "Beatriz Oliveira", "201"),  # honorific and nickname
        ("ze", "José Almeida", "102"),
        ("zezinho", "José Almeida", "102"),  # diminutive
        ("seu chico", "Francisco Pereira", "301"),
        ("fransisco", "Francisco Pereira", "301"),
        ("luisa", "Luíza Costa", "302"),  # sounds alike
        ("lima", "Fernanda Lima", "1001"),  # surname only, unique
        ("paula", "Ana Paula Ferreira", "103"),  # middle name
        ("ana lucia", "Ana Lúcia Santos", "202"),
        ("pereira", "Francisco Pereira", "301"),  # an exact surname beats Ferreira
    ],
)
def test_a_name_alone_finds_one_resident(index: ResidentIndex, heard: str, resident: str, apartment: str) -> None:
    found = index.resolve(heard, None)
    assert found.outcome is Outcome.RESOLVED
    assert found.candidates == (Candidate(resident, apartment),)
    assert found.certain


def test_a_weak_match_without_apartment_is_not_certain(index: ResidentIndex) -> None:
    found = index.resolve("marcus", None)
    assert found.outcome is Outcome.RESOLVED and not found.certain
    assert found.candidates[0].resident == "Marcos Oliveira"


@pytest.mark.parametrize(
    ("heard", "residents"),
    [
        ("ana", {"Ana Paula Ferreira", "Ana Lúcia Santos"}),
    ],
)
def test_close_candidates_are_ambiguous(index: ResidentIndex, heard: str, residents: set[str]) -> None:
    found = index.resolve(heard, None)
    assert found.outcome is Outcome.AMBIGUOUS
    assert {candidate.resident for candidate in found.candidates} == residents


@pytest.mark.parametrize(("heard", "apartment"), [("oliveira", "201"), ("familia souza", "101"), ("souza", "101")])
def test_a_family_name_finds_the_apartment_they_share(index: ResidentIndex, heard: str, apartment: str) -> None:
    for stated in (None, apartment):
        found = index.resolve(heard, stated)
        assert found.outcome is Outcome.RESOLVED and found.certain
        assert found.candidates == (Candidate(None, apartment),)


def test_the_apartment_alone_is_enough(index: ResidentIndex) -> None:
    """The apartment is the key: no name needed; a lone resident is named, a household is the apartment."""
    assert index.resolve(None, "101") == Resolution(Outcome.RESOLVED, (Candidate(None, "101"),), certain=True)
    assert index.resolve(None, "102") == Resolution(Outcome.RESOLVED, (Candidate("José Almeida", "102"),), True)


def test_the_apartment_settles_an_ambiguous_name(index: ResidentIndex) -> None:
    found = index.resolve("ana", "202")
    assert found.outcome is Outcome.RESOLVED and found.certain
    assert found.candidates == (Candidate("Ana Lúcia Santos", "202"),)


def test_a_fuzzy_name_in_the_stated_apartment_is_validated(index: ResidentIndex) -> None:
    found = index.resolve("marcus oliveira", "201")
    assert found.outcome is Outcome.RESOLVED and found.certain


def test_resident_of_another_apartment_is_not_validated(index: ResidentIndex) -> None:
    found = index.resolve("renata", "102")
    assert found.outcome is Outcome.NOT_IN_APARTMENT
    assert found.candidates == (Candidate("Renata Souza", "101"),)


@pytest.mark.parametrize("apartment", ["100", "111", "107"])
def test_a_missing_apartment_one_digit_from_the_named_residents_home_is_that_home(
    index: ResidentIndex, apartment: str
) -> None:
    found = index.resolve("renata", apartment)  # "do cento e um" heard as "do centro Ion": no 100 here
    assert found.outcome is Outcome.RESOLVED and found.certain
    assert found.candidates == (Candidate("Renata Souza", "101"),)


@pytest.mark.parametrize(
    ("heard", "apartment"),
    [
        ("renata", "103"),  # 103 exists: someone else lives there, the visitor is asked
        ("renata", "907"),  # two digits away
        ("renato", "100"),  # a name heard only nearly
    ],
)
def test_other_misplaced_names_are_not_taken(index: ResidentIndex, heard: str, apartment: str) -> None:
    found = index.resolve(heard, apartment)
    assert found.outcome is Outcome.NOT_IN_APARTMENT, found


@pytest.mark.parametrize(
    ("heard", "apartment", "outcome"),
    [
        ("roberto", "101", Outcome.NOT_IN_APARTMENT),
        (None, "999", Outcome.NO_SUCH_APARTMENT),
        ("fulano", "999", Outcome.NO_SUCH_APARTMENT),
        ("fulano de tal", None, Outcome.NOT_FOUND),
        (None, None, Outcome.NOTHING),
        ("dona", None, Outcome.NOTHING),  # only an honorific: no name at all
    ],
)
def test_unvalidated_requests(index: ResidentIndex, heard: str | None, apartment: str | None, outcome: Outcome) -> None:
    found = index.resolve(heard, apartment)
    assert found.outcome is outcome
    assert outcome is not Outcome.NOT_IN_APARTMENT or not found.candidates


def test_blocks(condo_index: ResidentIndex) -> None:
    assert condo_index.resolve(None, "101").outcome is Outcome.BLOCK_NEEDED
    assert condo_index.resolve(None, "101", "B").candidates == (Candidate("Renato Souza", "101", "B"),)
    assert condo_index.resolve(None, "1001", "A").outcome is Outcome.NO_SUCH_APARTMENT
    renata = condo_index.resolve("renata", "101")
    assert renata.candidates == (Candidate("Renata Souza", "101", "A"),) and renata.certain


def test_exact_name_beats_its_other_gender(condo_index: ResidentIndex) -> None:
    assert condo_index.resolve("fernanda", None).candidates == (Candidate("Fernanda Lima", "1001", "B"),)
    assert condo_index.resolve("renato", None).candidates == (Candidate("Renato Souza", "101", "B"),)


def test_halfway_between_two_names_is_ambiguous(condo_index: ResidentIndex) -> None:
    found = condo_index.resolve("renat", None)
    assert found.outcome is Outcome.AMBIGUOUS
    assert {candidate.resident for candidate in found.candidates} == {"Renata Souza", "Renato Souza"}


def test_directory_nicknames(condo_index: ResidentIndex) -> None:
    assert condo_index.resolve("duda", None).candidates == (Candidate("Maria Eduarda Rocha", "201", "B"),)


def test_pick_among_candidates(index: ResidentIndex) -> None:
    anas = index.resolve("ana", None).candidates
    assert index.pick(anas, "paula", None, None) == Candidate("Ana Paula Ferreira", "103")
    assert index.pick(anas, None, "202", None) == Candidate("Ana Lúcia Santos", "202")
    assert index.pick(anas, "ana lucia", "103", None) is None  # contradiction: no guess
    assert index.pick(anas, None, None, None) is None


def test_a_name_that_only_sounds_like_a_residents_is_confirmed_never_taken() -> None:
    """By sound "Joana" (who may not live there) is as near "Giovanna" as "louisa" is to "Heloísa" (who does):
    both resolve, neither is certain, so the visitor is asked before anyone is rung."""
    directory = parse_directory(
        '[{"apartment_number": "702", "residents": ["Giovanna Prado"], "voip_number": "PJSIP/702"},'
        ' {"apartment_number": "501", "residents": ["Heloísa Fontes"], "voip_number": "PJSIP/501"}]'
    )
    index = ResidentIndex(directory)
    for heard, resident in (("Joana", "Giovanna Prado"), ("louisa", "Heloísa Fontes")):
        found = index.resolve(heard, None)
        assert found.outcome is Outcome.RESOLVED and found.candidates[0].resident == resident
        assert not found.certain
    assert index.resolve("Giovanna", None).certain


@pytest.mark.parametrize(
    ("heard", "resident"),
    [
        ("agio varna", "Giovanna Prado"),  # "A Giovanna." as Whisper wrote it
        ("jose angela martins", "Rosângela Martins"),  # "A Rosângela Martins."
    ],
)
def test_a_name_whisper_split_in_pieces_is_read_whole_and_confirmed(heard: str, resident: str) -> None:
    directory = parse_directory(
        '[{"apartment_number": "702", "residents": ["Giovanna Prado"], "voip_number": "PJSIP/702"},'
        ' {"apartment_number": "401", "residents": ["Rosângela Martins", "José Martins"], "voip_number": "PJSIP/401"}]'
    )
    found = ResidentIndex(directory).resolve(heard, None)
    assert found.outcome is Outcome.RESOLVED and found.candidates[0].resident == resident
    assert not found.certain  # read back to the visitor before anyone is rung


@pytest.mark.parametrize("heard", ["everaldo santos", "sol hicard", "varna agio"])
def test_pieces_that_are_no_residents_name_stay_unmatched(heard: str) -> None:
    directory = parse_directory(
        '[{"apartment_number": "702", "residents": ["Giovanna Prado"], "voip_number": "PJSIP/702"},'
        ' {"apartment_number": "401", "residents": ["Rosângela Martins"], "voip_number": "PJSIP/401"}]'
    )
    assert ResidentIndex(directory).resolve(heard, None).outcome is Outcome.NOT_FOUND
