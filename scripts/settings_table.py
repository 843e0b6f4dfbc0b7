"""Regenerate the settings table in README.md from the Settings model: `python scripts/settings_table.py`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.settings import ENV_PREFIX, Settings  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def table() -> str:
    rows = ["| Setting | Default | What it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = (
            "(required)"
            if name == "ari_password"
            else ""
            if default is None
            else str(getattr(default, "value", default))
        )
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | `{shown}` | {description} |")
    return "\n".join(rows)


def main() -> None:
    text = README.read_text(encoding="utf-8")
    block = f"{START}\n{table()}\n{END}"
    if START in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.replace("SETTINGS_TABLE", block)
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
