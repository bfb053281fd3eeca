"""QR codes of short URLs, drawn by `segno` (SVG or PNG), for print, posters and the dashboard."""

from __future__ import annotations

import io
from typing import Literal

import segno

QrFormat = Literal["svg", "png"]
MEDIA_TYPES: dict[str, str] = {"svg": "image/svg+xml", "png": "image/png"}


def qr_code(url: str, kind: QrFormat | str) -> bytes:
    """The QR code of `url`; error correction M, so a smudge on a printed flyer still scans."""
    out = io.BytesIO()
    qr = segno.make(url, error="m", micro=False)
    if kind == "svg":
        qr.save(out, kind="svg", scale=8, border=4, xmldecl=False, title=url)
    else:
        qr.save(out, kind="png", scale=8, border=4)
    return out.getvalue()
