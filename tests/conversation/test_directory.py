"""The residents directory: prototype and extended formats, validation messages, reload on change."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from controller.conversation.directory import Apartment, DirectoryError, Resident, parse_directory
from controller.records.directory_file import LiveDirectory, load_directory
from tests.conversation.conftest import CONDO_PATH, SAMPLE_PATH


def test_prototype_format_still_loads() -> None:
    directory = load_directory(SAMPLE_PATH)
    apartment = directory.find("101")
    assert apartment == Apartment("101", ("Renata Souza", "Carlos Souza"), "PJSIP/101")
    assert apartment.people == (Resident("Renata Souza"), Resident("Carlos Souza"))
    assert not directory.has_blocks


def test_extended_format() -> None:
    directory = load_directory(CONDO_PATH)
    assert directory.has_blocks
    assert [unit.block for unit in directory.units("101")] == ["A", "B"]
    jose = directory.find("102", "A")
    assert jose is not None and jose.people == (Resident("José Almeida", ("Zé", "Zezinho")),)
    felipe = directory.find("301", "B")
    assert felipe is not None and felipe.residents == ("Felipe Andrade", "Juliana Andrade")
    assert felipe.endpoint_for("Felipe Andrade") == "PJSIP/felipe-celular"
    assert felipe.endpoint_for("Juliana Andrade") == "PJSIP/b301"
    assert felipe.label == "301, bloco B"


def test_numbers_given_as_json_numbers_and_blocks_in_lower_case() -> None:
    directory = parse_directory('[{"apartment_number": 12, "block": "c", "residents": ["Ana"], "voip_number": 1012}]')
    assert directory.apartments == (Apartment("12", ("Ana",), "1012", "C"),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[1]", "entry 0: must be an object, got int"),
        ('[{"residents": ["A"], "voip_number": "x"}]', "entry 0: field 'apartment_number' is missing or empty"),
        ('[{"apartment_number": "1", "voip_number": "x"}]', "entry 0 (apartment 1): field 'residents' must be"),
        ('[{"apartment_number": "1", "residents": [""], "voip_number": "x"}]', "residents[0] must be a non-empty name"),
        ('[{"apartment_number": "1", "residents": ["A"]}]', "entry 0 (apartment 1): field 'voip_number' is missing"),
        (
            '[{"apartment_number": "1", "block": "", "residents": ["A"], "voip_number": "x"}]',
            "entry 0 (apartment 1): field 'block' must be",
        ),
        (
            '[{"apartment_number": "1", "block": "A", "residents": [{"nome": "A"}], "voip_number": "x"}]',
            "entry 0 (apartment 1, block A): residents[0]: field 'name' is missing or empty",
        ),
        (
            '[{"apartment_number": "1", "residents": [{"name": "Zé", "nicknames": "Zezinho"}], "voip_number": "x"}]',
            "residents[0] (Zé): field 'nicknames' must be a list",
        ),
        (
            '[{"apartment_number": "1", "residents": [{"name": "Zé", "phone": "1"}], "voip_number": "x"}]',
            "residents[0] (Zé): unknown field(s) phone",
        ),
        (
            '[{"apartment_number": "1", "residents": ["A"], "voip_number": "x"},'
            ' {"apartment_number": "1", "residents": ["B"], "voip_number": "y"}]',
            "apartment 1 appears more than once",
        ),
        ("{", "not valid JSON (line 1"),
        ("{}", "must be a JSON list of apartments"),
    ],
)
def test_validation_names_entry_and_field(raw: str, message: str) -> None:
    with pytest.raises(DirectoryError) as failure:
        parse_directory(raw, "apartamentos.json")
    assert message in str(failure.value)


def test_same_number_in_two_blocks_is_fine() -> None:
    raw = [
        {"apartment_number": "1", "block": "A", "residents": ["A"], "voip_number": "x"},
        {"apartment_number": "1", "block": "B", "residents": ["B"], "voip_number": "y"},
    ]
    assert len(parse_directory(json.dumps(raw)).apartments) == 2


def _write(path: Path, residents: list[str]) -> None:
    path.write_text(json.dumps([{"apartment_number": "1", "residents": residents, "voip_number": "PJSIP/1"}]))


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_live_directory_reloads_on_change_and_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "apartamentos.json"
    _write(path, ["Ana"])
    clock = _Clock()
    reloaded: list[tuple[str, ...]] = []
    live = LiveDirectory(
        path, check_every_s=2.0, clock=clock, on_reload=lambda d: reloaded.append(d.apartments[0].residents)
    )
    assert live.current().apartments[0].residents == ("Ana",)

    _write(path, ["Ana", "Bruno Bastos"])
    assert live.current().apartments[0].residents == ("Ana",)  # not checked again yet
    clock.now = 2.5
    assert live.current().apartments[0].residents == ("Ana", "Bruno Bastos")

    path.write_text('[{"apartment_number": "1", "residents": []')  # a half-saved edit
    clock.now = 5.0
    with caplog.at_level(logging.ERROR, logger="controller.records.directory_file"):
        assert live.current().apartments[0].residents == ("Ana", "Bruno Bastos")
    assert "keeping the last good one" in caplog.text and "not valid JSON" in caplog.text
    with pytest.raises(DirectoryError) as broken:
        load_directory(path)
    assert live.problem == str(broken.value)  # what `check` says of the file, for the console

    _write(path, ["Carla"])
    clock.now = 7.5
    assert live.current().apartments[0].residents == ("Carla",) and live.problem is None
    assert reloaded == [("Ana", "Bruno Bastos"), ("Carla",)]  # each good reload, never the broken file


def test_live_directory_reloads_on_demand_even_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "apartamentos.json"
    _write(path, ["Ana"])
    reloaded: list[tuple[str, ...]] = []
    live = LiveDirectory(path, check_every_s=3600, on_reload=lambda d: reloaded.append(d.apartments[0].residents))
    assert live.reload() and reloaded == [("Ana",)]  # read again although nothing changed
    path.write_text("[", encoding="utf-8")
    assert not live.reload() and live.problem is not None and "not valid JSON" in live.problem
    assert live.current().apartments[0].residents == ("Ana",) and reloaded == [("Ana",)]


def test_live_directory_needs_a_good_file_to_start(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(DirectoryError, match="cannot be read"):
        LiveDirectory(path)
