"""QR codes of referral links, drawn by segno."""

import io

import segno

# Four modules of quiet zone is what scanners expect; medium correction survives print smudges.
BORDER = 4
PNG_SCALE = 10
SVG_SCALE = 8


def _qr(url: str) -> segno.QRCode:
    return segno.make(url, error="m")


def qr_svg(url: str) -> bytes:
    """A standalone SVG document with a white background."""
    out = io.BytesIO()
    _qr(url).save(out, kind="svg", scale=SVG_SCALE, border=BORDER, light="#fff", title=url)
    return out.getvalue()


def qr_svg_inline(url: str) -> str:
    """An <svg> element without fixed size (it has a viewBox), for embedding in HTML."""
    return _qr(url).svg_inline(scale=SVG_SCALE, border=BORDER, light="#fff", omitsize=True)


def qr_png(url: str) -> bytes:
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=PNG_SCALE, border=BORDER)
    return out.getvalue()
