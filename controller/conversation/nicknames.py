"""Common Brazilian nicknames and diminutives, folded: what a visitor may call a resident.

Directory entries can add their own nicknames; this table covers the usual ones so nobody has to list "Zé"
for every José.
"""

from __future__ import annotations

NICKNAMES: dict[str, tuple[str, ...]] = {
    "ze": ("jose",),
    "zeca": ("jose",),
    "zezinho": ("jose",),
    "bia": ("beatriz",),
    "chico": ("francisco",),
    "chiquinho": ("francisco",),
    "kiko": ("francisco", "henrique"),
    "lu": ("luiza", "lucia", "luciana", "lucas"),
    "malu": ("maria luiza", "maria lucia"),
    "dani": ("daniela", "daniel", "danielle"),
    "nanda": ("fernanda",),
    "fe": ("fernanda", "fernando"),
    "fer": ("fernanda", "fernando"),
    "nando": ("fernando",),
    "gabi": ("gabriela", "gabriel"),
    "rafa": ("rafael", "rafaela"),
    "carol": ("carolina", "caroline"),
    "duda": ("eduarda", "eduardo"),
    "dudu": ("eduardo",),
    "edu": ("eduardo",),
    "guto": ("augusto", "gustavo"),
    "gu": ("gustavo",),
    "beto": ("roberto", "alberto", "humberto"),
    "tonho": ("antonio",),
    "toninho": ("antonio",),
    "toni": ("antonio",),
    "tiao": ("sebastiao",),
    "paulinho": ("paulo",),
    "manu": ("manuela", "emanuel", "emanuelle"),
    "lipe": ("felipe",),
    "gui": ("guilherme",),
    "leo": ("leonardo", "leandro", "leonel"),
    "cris": ("cristina", "cristiane", "cristiano"),
    "tati": ("tatiana", "tatiane"),
    "vivi": ("viviane", "vivian"),
    "ju": ("juliana", "julia"),
    "mari": ("mariana", "maria"),
    "pati": ("patricia",),
    "fabi": ("fabiana", "fabiola"),
    "xande": ("alexandre",),
    "alex": ("alexandre", "alexandra"),
    "bel": ("isabel", "isabela"),
    "isa": ("isabel", "isabela"),
    "lela": ("gabriela", "daniela"),
    "re": ("renata",),
    "rena": ("renata",),
    "caca": ("carlos", "carla"),
    "carlinhos": ("carlos",),
    "pedrinho": ("pedro",),
    "marcao": ("marcos",),
    "aninha": ("ana",),
    "juca": ("jose",),
    "quinho": ("joaquim",),
    "quim": ("joaquim",),
    "joca": ("joao",),
    "joaozinho": ("joao",),
    "lulu": ("luiza", "lucia"),
    "van": ("vanessa",),
    "nessa": ("vanessa",),
    "sandrinha": ("sandra",),
    "tere": ("teresa", "tereza"),
    "teca": ("teresa", "tereza"),
    "dri": ("adriana",),
    "drica": ("adriana",),
    "lia": ("julia", "amelia", "cecilia"),
    "ceci": ("cecilia",),
    "mila": ("camila",),
    "rodrigao": ("rodrigo",),
    "digo": ("rodrigo",),
    "thi": ("thiago",),
    "ti": ("tiago", "thiago"),
    "gaby": ("gabriela",),
    "luli": ("luiza",),
    "nina": ("marina", "catarina"),
}


def expand(word: str) -> tuple[str, ...]:
    """Full names a folded word may stand for, the word itself first ('ze' -> ('ze', 'jose'))."""
    forms = [word]
    forms.extend(NICKNAMES.get(word, ()))
    for suffix, ending in (("zinho", ""), ("zinha", ""), ("inho", "o"), ("inha", "a"), ("inhos", "os")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            forms.append(word[: -len(suffix)] + ending)
    return tuple(dict.fromkeys(forms))
