"""Render a document template (``templates/<kind>.xml``, Jinja2) to a PDF with ReportLab. Pure: no I/O but the
template files and the font, both read once per process.

A template writes a small XML vocabulary that maps one to one onto ReportLab's flowables:

    <document title="…">            the PDF's title (its only metadata besides the producer)
      <title>…</title>              the heading, centred
      <subtitle>…</subtitle>        a line under the heading (the document number), centred
      <p>…</p>  <p class="indent">  a paragraph; ``indent`` starts with two full-width spaces' indent
      <field label="…">…</field>    a labelled line: 申请人：…
      <table widths="30,70"><row><cell>…</cell>…</row>…</table>   a ruled table (widths in per cent)
      <space/>                      a blank line
      <signatures><sign>…</sign>…</signatures>   signature lines, two per row
    </document>

Values are escaped by Jinja's autoescape, so a worker's name cannot inject markup. The same case gives the same
bytes: ReportLab's ``invariant`` mode fixes the creation date and the document id, and the font is fixed.
"""

from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.web import words

TEMPLATES = Path(__file__).parent / "templates"
FONT = "laborcase-zh"
#: where the Chinese font comes from when ``LABORCASE_DOCUMENT_FONT`` names no file (a PyPI package: ADR 0005)
FONT_PACKAGE = "paperang_p2_fonts_cjk"
KINDS = ("receipt", "agreement", "feedback-letter", "legal-aid-decision")


class FontMissing(RuntimeError):
    pass


def font_path() -> Path:
    """The TrueType font embedded in every document: ``LABORCASE_DOCUMENT_FONT`` (e.g. Debian's
    /usr/share/fonts/truetype/wqy/wqy-microhei.ttc) or WenQuanYi Micro Hei from the pinned PyPI package."""
    configured = os.environ.get("LABORCASE_DOCUMENT_FONT")
    if configured:
        return Path(configured)
    import importlib.util

    spec = importlib.util.find_spec(FONT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FontMissing(f"缺少中文字体包 {FONT_PACKAGE}（python3 dev.py setup 会安装）")
    return Path(next(iter(spec.submodule_search_locations))) / "fonts" / "wqy-microhei.ttc"


@lru_cache(maxsize=1)
def _font() -> str:
    path = font_path()
    if not path.is_file():
        raise FontMissing(f"找不到中文字体文件 {path}")
    options = {"subfontIndex": 0} if path.suffix.lower() == ".ttc" else {}
    pdfmetrics.registerFont(TTFont(FONT, str(path), **options))
    return FONT


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(money=words.money, day=words.day, when=words.when, unit=words.unit_name)
    env.globals["zh"] = words.zh
    return env


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("p", fontName=font, fontSize=11.5, leading=20, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=30, alignment=TA_CENTER, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=10.5, alignment=TA_CENTER, spaceAfter=10),
        "p": ParagraphStyle("body", parent=base, spaceAfter=4),
        "indent": ParagraphStyle("indent", parent=base, firstLineIndent=23, spaceAfter=4),
        "cell": ParagraphStyle("cell", parent=base, fontSize=10.5, leading=16),
        "sign": ParagraphStyle("sign", parent=base, leading=26),
    }


def _inline(node: ET.Element) -> str:
    """The node's text with ``<br/>`` and ``<b>`` kept (ReportLab's paragraph markup), everything escaped."""
    parts = [_escape(node.text or "")]
    for child in node:
        if child.tag == "br":
            parts.append("<br/>")
        elif child.tag in ("b", "u"):
            parts.append(f"<{child.tag}>{_inline(child)}</{child.tag}>")
        else:
            parts.append(_inline(child))
        parts.append(_escape(child.tail or ""))
    return "".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _flowables(root: ET.Element, styles: dict[str, ParagraphStyle], width: float) -> list[Flowable]:
    out: list[Flowable] = []
    for node in root:
        if node.tag in ("title", "subtitle"):
            out.append(Paragraph(_inline(node), styles[node.tag]))
        elif node.tag == "p":
            out.append(Paragraph(_inline(node), styles["indent" if node.get("class") == "indent" else "p"]))
        elif node.tag == "field":
            out.append(Paragraph(f"{_escape(node.get('label', ''))}：{_inline(node)}", styles["p"]))
        elif node.tag == "space":
            out.append(Spacer(1, 6 * mm))
        elif node.tag == "table":
            shares = [float(w) for w in (node.get("widths") or "").split(",") if w.strip()]
            rows = [[Paragraph(_inline(cell), styles["cell"]) for cell in row] for row in node.findall("row")]
            if not rows:
                continue
            columns = len(rows[0])
            shares = shares if len(shares) == columns else [100 / columns] * columns
            table = Table(rows, colWidths=[width * s / 100 for s in shares], repeatRows=1)
            table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.6, colors.black),
                                       ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                                       ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
            out.append(table)
            out.append(Spacer(1, 3 * mm))
        elif node.tag == "signatures":
            signs = [Paragraph(_inline(s), styles["sign"]) for s in node.findall("sign")]
            pairs = [signs[i:i + 2] + ([Paragraph("", styles["sign"])] if len(signs[i:i + 2]) == 1 else [])
                     for i in range(0, len(signs), 2)]
            if pairs:
                table = Table(pairs, colWidths=[width / 2, width / 2])
                table.setStyle(TableStyle([("TOPPADDING", (0, 0), (-1, -1), 14), ("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
                out.append(Spacer(1, 8 * mm))
                out.append(table)
        else:
            raise ValueError(f"unknown element <{node.tag}> in a document template")
    return out


def render(kind: str, context: dict[str, Any]) -> bytes:
    """The PDF of document ``kind`` (a template file ``templates/<kind>.xml``) for ``context``."""
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}")
    markup = _environment().get_template(f"{kind}.xml").render(**context)
    root = ET.fromstring(markup)
    font = _font()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=25 * mm,
                            bottomMargin=22 * mm, title=root.get("title", ""), author="laborcase", creator="laborcase",
                            subject="", keywords="", invariant=1, lang="zh-CN")
    doc.build(_flowables(root, _styles(font), doc.width))
    return buffer.getvalue()
