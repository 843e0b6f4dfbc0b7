"""The frame every console page shares: head, header, the navigation among the pages, the CSRF field."""

from __future__ import annotations

from html import escape

# (path, label): every page the navigation links to, in the order shown.
NAV = (
    ("/console", "Chamadas"),
    ("/console/audit", "Decisões"),
    ("/console/charts", "Gráficos"),
    ("/console/directory", "Moradores"),
    ("/console/passes", "Autorizações"),
    ("/console/settings", "Configurações"),
)


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(token)}">' if token else ""


def page(title: str, body: str, *, user: str = "", csrf: str = "", here: str = "") -> str:
    """A whole page; with `user`, the navigation (`here` marked as the current page) and the logout button."""
    nav = ""
    if user:
        current = ' aria-current="page"'
        links = " ".join(
            f'<a href="{path}"{current if path == here else ""}>{escape(label)}</a>' for path, label in NAV
        )
        nav = (
            f"<nav>{links}"
            f'<form method="post" action="/console/logout" class="inline">{csrf_field(csrf)}'
            f'<button type="submit">Sair ({escape(user)})</button></form></nav>'
        )
    return (
        '<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · Portaria</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        '<script src="/console/static/console.js" defer></script></head>'
        f"<body><header><h1>Portaria</h1>{nav}</header><main>{body}</main></body></html>"
    )


def alert(message: str) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
