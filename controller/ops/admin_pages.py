"""The residents directory page and the settings page (pt-BR); what they show is given to them, already safe to
show (the settings arrive with their secrets masked, from the composition root)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from urllib.parse import quote

from controller.conversation.directory import Apartment, Directory
from controller.ops.layout import csrf_field, page


def _residents(apartment: Apartment) -> str:
    people = []
    for person in apartment.people:
        nicknames = f" ({', '.join(person.nicknames)})" if person.nicknames else ""
        endpoint = f" → <code>{escape(person.endpoint)}</code>" if person.endpoint else ""
        people.append(f"<li>{escape(person.name + nicknames)}{endpoint}</li>")
    return f'<ul class="people">{"".join(people)}</ul>'


def site_links(path: str, sites: Sequence[str], site: str) -> str:
    """With a sites file, links to the same page of each site (the one shown marked); nothing for one site."""
    if len(sites) < 2:
        return ""
    current = ' aria-current="true"'
    links = " ".join(
        f'<a href="{path}?site={quote(name)}"{current if name == site else ""}>{escape(name)}</a>' for name in sites
    )
    return f'<p class="sites">Condomínio: {links}</p>'


def directory_page(
    directory: Directory,
    *,
    path: Path,
    problem: str | None,
    notice: str,
    csrf: str,
    user: str,
    sites: Sequence[str] = ("default",),
    site: str = "default",
) -> str:
    """`problem`: why the file did not load when it was last read (as `check` says it); the directory shown is
    then the last good one, which calls still use."""
    status = (
        '<div class="error" role="alert" data-directory-problem><p>O arquivo de moradores tem um erro e não foi '
        "carregado. O Portaria continua usando a última versão válida, mostrada abaixo. O erro (como o "
        f"<code>portaria check</code> o relata):</p><pre>{escape(problem)}</pre></div>"
        if problem
        else '<p class="ok" data-directory-ok>O arquivo foi carregado sem erros.</p>'
    )
    rows = "".join(
        f"<tr><td>{escape(a.number)}</td><td>{escape(a.block or '-')}</td><td>{_residents(a)}</td>"
        f"<td><code>{escape(a.voip_number)}</code></td></tr>"
        for a in directory.apartments
    )
    residents = sum(len(a.people) for a in directory.apartments)
    body = (
        f"<h2>Moradores</h2>{site_links('/console/directory', sites, site)}"
        f"<p>Arquivo <code>{escape(str(path))}</code>: {len(directory.apartments)} "
        f"apartamento(s), {residents} morador(es).</p>{status}"
        f"{f'<p class=notice role=status>{escape(notice)}</p>' if notice else ''}"
        f'<form method="post" action="/console/directory/reload">{csrf_field(csrf)}'
        f'<input type="hidden" name="site" value="{escape(site)}">'
        '<button type="submit">Recarregar</button> <small>lê o arquivo de novo agora (ele também é relido '
        "sozinho quando muda)</small></form>"
        '<table class="audit directory"><thead><tr><th>Apartamento</th><th>Bloco</th><th>Moradores</th>'
        f"<th>Telefone (endpoint)</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return page("Moradores", body, user=user, csrf=csrf, here="/console/directory")


def settings_page(rows: Sequence[tuple[str, str, str]], *, csrf: str, user: str) -> str:
    """(name, value, description) per setting; the values of secrets arrive masked."""
    cells = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td><code>{escape(value)}</code></td><td>{escape(about)}</td></tr>"
        for name, value, about in rows
    )
    body = (
        "<h2>Configurações</h2><p>Os valores em uso, das variáveis de ambiente e do arquivo <code>.env</code>. "
        "Senhas, chaves e tokens aparecem como ••••••. Para mudar um valor, edite-o e reinicie o serviço.</p>"
        '<table class="audit settings"><thead><tr><th>Configuração</th><th>Valor</th><th>O que faz</th></tr>'
        f"</thead><tbody>{cells}</tbody></table>"
    )
    return page("Configurações", body, user=user, csrf=csrf, here="/console/settings")
