"""The one way our HTML is made: Starlette's `Jinja2Templates` over a room's `templates/` folder.

Autoescaping is on for every template (the pages show campaign names, order ids and other input), and
StrictUndefined turns a name the view forgot into an error in the tests instead of an empty spot on a page.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.templating import Jinja2Templates


def templates_of(module_file: str) -> Jinja2Templates:
    """The templates in the `templates/` folder next to `module_file` (pass `__file__`)."""
    folder = Path(module_file).resolve().parent / "templates"
    return Jinja2Templates(env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    ))
