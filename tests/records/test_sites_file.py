"""The sites file: what a good one gives, what a bad one is told, and how a live one changes under calls."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.records.gate_opener import OpenerSpec
from controller.records.sites_file import LiveSites, NotifySpec, SitesError, SiteSpec, load_sites, parse_sites
from controller.settings import load_settings
from controller.tools.check import run_check
from controller.wiring.sites import SiteParts, build_sites

TWO_SITES = """
[[site]]
id = "jardins"
name = "Residencial Jardins"
gates = ["jardins-social", "4001"]
directory = "jardins.json"
greeting = "Residencial Jardins, boa tarde."
concierge = "PJSIP/central-jardins"

[site.opener]
kind = "http"
preset = "intelbras"
url = "http://10.1.0.20"
user = "admin"
password_env = "JARDINS_GATE_PASSWORD"

[[site]]
id = "apoena"
name = "Condomínio Apoena"
gates = ["apoena"]
directory = "/srv/portaria/apoena.json"
"""

ENV = {"JARDINS_GATE_PASSWORD": "s3cret-value"}


def test_a_good_file_gives_each_site_its_parts_with_the_secret_from_the_environment(tmp_path: Path) -> None:
    jardins, apoena = parse_sites(TWO_SITES, "sites.toml", tmp_path, ENV)
    assert jardins == SiteSpec(
        "jardins",
        "Residencial Jardins",
        ("jardins-social", "4001"),
        tmp_path / "jardins.json",
        "Residencial Jardins, boa tarde.",
        "PJSIP/central-jardins",
        OpenerSpec(kind="http", preset="intelbras", url="http://10.1.0.20", user="admin", password="s3cret-value"),
    )
    assert "s3cret" not in repr(jardins)
    assert apoena == SiteSpec("apoena", "Condomínio Apoena", ("apoena",), Path("/srv/portaria/apoena.json"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('gates = ["apoena"]', 'gates = ["4001"]'), "gate '4001' belongs to both 'jardins' and 'apoena'"),
        (('id = "apoena"', 'id = "jardins"'), "site id 'jardins' is used twice"),
        (('name = "Condomínio Apoena"\n', ""), "site 'apoena': name: is missing"),
        (('gates = ["apoena"]', "gates = []"), "site 'apoena': gates: List should have at least 1 item"),
        (('gates = ["apoena"]', 'gates = ["a poena"]'), "site 'apoena': gates.0: String should match pattern"),
        (('id = "apoena"', 'id = "Apoena!"'), "site 'Apoena!': id: String should match pattern"),
        (('kind = "http"', 'kind = "relay"'), "site 'jardins': opener.kind: Input should be"),
        (('url = "http://10.1.0.20"', 'url = "http://10.1.0.20"\ncolor = "blue"'), "opener.color: Extra inputs"),
        (('[[site]]\nid = "jardins"', '[[site]]\nid = "jardins"\nid = "x"'), "not valid TOML"),
        (('password_env = "JARDINS_GATE_PASSWORD"', 'password = "hunter22"'), "secrets do not go in the sites file"),
    ],
)
def test_a_bad_file_is_told_where_and_what(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = TWO_SITES.replace(*change)
    assert text != TWO_SITES
    with pytest.raises(SitesError) as caught:
        parse_sites(text, "sites.toml", tmp_path, ENV)
    assert str(caught.value).startswith("sites.toml: ") and message in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_a_secret_the_environment_lacks_is_named_never_guessed(tmp_path: Path) -> None:
    with pytest.raises(SitesError, match="opener.password_env names JARDINS_GATE_PASSWORD, which is not set"):
        parse_sites(TWO_SITES, "sites.toml", tmp_path, {})


def test_an_unreadable_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(SitesError, match="cannot be read"):
        load_sites(tmp_path / "missing.toml", ENV)
    (tmp_path / "latin1.toml").write_bytes("name = 'Condomínio'".encode("latin-1"))
    with pytest.raises(SitesError, match="is not UTF-8"):
        load_sites(tmp_path / "latin1.toml", ENV)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str, tick: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(tick * 10**9, tick * 10**9))  # a new mtime even within the file system's resolution


def test_a_live_file_reloads_keeps_unchanged_sites_and_keeps_the_last_good_version(tmp_path: Path) -> None:
    path, clock = tmp_path / "sites.toml", Clock()
    builds: list[str] = []

    def build(spec: SiteSpec) -> str:
        builds.append(spec.id)
        if spec.greeting == "quebrado":
            raise ValueError("cannot set this site up")
        return f"{spec.id}:{spec.greeting}"

    write(path, TWO_SITES, 1)
    live = LiveSites(path, ENV, build, clock=clock)
    assert live.site_for("4001") == "jardins:Residencial Jardins, boa tarde."
    assert live.site_for("apoena") == "apoena:None" and live.site_for("nowhere") is None
    assert live.site_for("") is None  # two sites: a call without a gate key belongs to neither

    write(path, TWO_SITES.replace("boa tarde", "boa noite"), 2)
    assert live.site_for("4001") == "jardins:Residencial Jardins, boa tarde.", "not looked at before 2 s"
    clock.now = 2.5
    assert live.site_for("4001") == "jardins:Residencial Jardins, boa noite."
    assert builds == ["jardins", "apoena", "jardins"], "apoena did not change: not built again"

    write(path, TWO_SITES.replace('gates = ["apoena"]', 'gates = ["4001"]'), 3)
    clock.now = 5.0
    assert live.site_for("apoena") == "apoena:None" and live.problem is not None
    assert "belongs to both" in live.problem

    write(path, TWO_SITES.replace("Residencial Jardins, boa tarde.", "quebrado"), 4)
    assert not live.reload()
    assert live.problem is not None and "site 'jardins': cannot set this site up" in live.problem
    assert live.site_for("4001") == "jardins:Residencial Jardins, boa noite."

    path.write_text(TWO_SITES.split("[[site]]", 2)[0] + "[[site]]" + TWO_SITES.split("[[site]]", 2)[2])
    assert live.reload() and live.problem is None
    assert live.site_for("") == "apoena:None", "one site left: a call without a key is its call"
    assert live.site_for("4001") is None
    assert set(live.built) == {
        "jardins:Residencial Jardins, boa tarde.",
        "jardins:Residencial Jardins, boa noite.",
        "apoena:None",
    }


def test_the_first_load_must_succeed(tmp_path: Path) -> None:
    path = tmp_path / "sites.toml"
    write(path, TWO_SITES, 1)
    with pytest.raises(SitesError, match="not set"):
        LiveSites(path, {}, lambda spec: spec.id)


def test_check_reports_each_site_and_a_site_whose_directory_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "sites.toml").write_text(TWO_SITES.replace("/srv/portaria/apoena.json", "apoena.json"))
    (tmp_path / "jardins.json").write_text(
        '[{"apartment_number": "101", "residents": ["Renata"], "voip_number": "PJSIP/101"}]'
    )
    (tmp_path / "apoena.json").write_text("[{")
    code, lines = _checked(tmp_path / "sites.toml")
    assert code == 1
    assert (True, "site jardins (Residencial Jardins): gates jardins-social, 4001; 1 apartments") in lines
    assert any(not ok and line.startswith("site apoena: directory ") for ok, line in lines), lines
    assert not any(line.startswith("directory ") for _, line in lines), "the settings' own directory is not used"
    assert "s3cret" not in repr(lines)


def test_a_site_s_delivery_policy_and_notes_webhook_with_its_token_from_the_environment(tmp_path: Path) -> None:
    text = (
        TWO_SITES + '\ndelivery = "armario"\n[site.notify]\nurl = "https://notes.example/apoena"\ntoken_env = "NOTES"\n'
    )
    _, apoena = parse_sites(text, "sites.toml", tmp_path, {**ENV, "NOTES": "n-token-9"})
    assert apoena.delivery == "armario"
    assert apoena.notify == NotifySpec("https://notes.example/apoena", "n-token-9")
    assert "n-token-9" not in repr(apoena)
    with pytest.raises(SitesError, match="site 'apoena': notify.token_env names NOTES, which is not set"):
        parse_sites(text, "sites.toml", tmp_path, ENV)
    with pytest.raises(SitesError, match="site 'apoena': delivery: Input should be"):
        parse_sites(text.replace('"armario"', '"porta"'), "sites.toml", tmp_path, {**ENV, "NOTES": "x"})


def test_a_site_s_own_voice_is_a_kokoro_pack_and_needs_the_kokoro_engine(tmp_path: Path) -> None:
    text = TWO_SITES.replace("/srv/portaria/apoena.json", "apoena.json") + 'voice = "jf_alpha"\n'
    (tmp_path / "sites.toml").write_text(text)
    for name in ("jardins", "apoena"):
        (tmp_path / f"{name}.json").write_text(
            '[{"apartment_number": "101", "residents": ["Renata"], "voip_number": "PJSIP/101"}]'
        )
    jardins, apoena = parse_sites(text, "sites.toml", tmp_path, ENV)
    assert (jardins.voice, apoena.voice) == (None, "jf_alpha")
    with pytest.raises(SitesError, match="voice: String should match"):
        parse_sites(text.replace('"jf_alpha"', '"Jf Alpha!"'), "sites.toml", tmp_path, ENV)

    def sites_with(**values: object) -> dict[str, SiteParts]:
        settings = load_settings(_env_file=None, sites=tmp_path / "sites.toml", **values)
        return build_sites(settings, _no_dtmf, ENV).sites()

    built = sites_with(tts_engine="kokoro")
    assert (built["jardins"].voice, built["apoena"].voice) == (None, "jf_alpha")
    with pytest.raises(SitesError, match="needs PORTARIA_TTS_ENGINE=kokoro"):
        sites_with(tts_engine="espeak")
    (tmp_path / "sites.toml").write_text(text.replace('"jf_alpha"', '"af_heart"'))
    with pytest.raises(SitesError, match="'af_heart' is not a Kokoro voice; choose one of jf_alpha"):
        sites_with(tts_engine="kokoro")
    code, lines = _checked(tmp_path / "sites.toml")
    assert code == 1 and any(not ok and line.startswith("site apoena: voice 'af_heart'") for ok, line in lines)


def _checked(sites: Path) -> tuple[int, list[tuple[bool, str]]]:
    """`./portaria check` on `sites` (its gate password in the environment): its exit code and report lines."""
    lines: list[tuple[bool, str]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JARDINS_GATE_PASSWORD", "s3cret-value")
        code = run_check(
            lambda ok, line: lines.append((ok, line)),
            ari_password="x",
            sites=sites,
            ari_url="http://127.0.0.1:9",
            audiosocket_bind="127.0.0.1:0",
        )
    return code, lines


async def _no_dtmf(channel: str, digits: str) -> None:
    raise AssertionError("no gate is opened here")
