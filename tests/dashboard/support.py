"""Helpers for the browser tests: Debian's Chromium, the page's path, screenshots kept as artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserType, Page, Playwright

__all__ = [
    "ARTIFACTS",
    "CHROMIUM_ARGS",
    "PAGE",
    "Glyphs",
    "approx_equal",
    "han_glyphs",
    "launch_chromium",
    "launch_chromium_without_cjk_fonts",
    "save_screenshot",
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHROMIUM = "/usr/bin/chromium"
PAGE = "/static/ai_usage_monitor.html"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; Playwright never downloads a browser of its own here."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# The system's fontconfig with every font that covers Simplified Chinese rejected: a machine without one.
_NO_CJK_FONTCONFIG = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>
  <cachedir>{cache}</cachedir>
  <selectfont><rejectfont>
    <pattern><patelt name="lang"><string>zh-cn</string></patelt></pattern>
  </rejectfont></selectfont>
</fontconfig>
"""


def launch_chromium_without_cjk_fonts(browser_type: BrowserType, folder: Path) -> Browser:
    """Chromium seeing no Chinese font, as on a machine without one (its fontconfig file in ``folder``)."""
    config = folder / "fonts.conf"
    config.write_text(_NO_CJK_FONTCONFIG.format(cache=folder / "cache"), encoding="utf-8")
    env = {**os.environ, "FONTCONFIG_FILE": str(config)}
    return browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=env)


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as a test artifact (``test-artifacts/<name>``)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


def approx_equal(a: Any, b: Any) -> bool:
    """Numbers equal up to float noise (the page reads them back from text attributes)."""
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))


# Draws each distinct Han character of the page's text, in the page's own font, on a canvas and returns
# a fingerprint of its pixels; a missing font draws every character as the same box (or nothing at all).
_HAN_GLYPHS_JS = """
(limit) => {
  const style = getComputedStyle(document.body);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const draw = (text) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.font = `${style.fontWeight} 40px ${style.fontFamily}`;
    ctx.textBaseline = "top";
    ctx.fillText(text, 8, 8);
    const alpha = ctx.getImageData(0, 0, 64, 64).data.filter((_, i) => i % 4 === 3);
    let hash = 0;
    for (const a of alpha) hash = (Math.imul(hash, 31) + a) >>> 0;
    return { ink: alpha.filter((a) => a > 0).length, hash };
  };
  const han = [...new Set(document.body.textContent.match(/\\p{Script=Han}/gu) || [])].slice(0, limit);
  return { chars: han, glyphs: han.map(draw), notdef: draw("\\u0378") };
}
"""


@dataclass(frozen=True)
class Glyphs:
    """The Han characters on the page and how many of them render as distinct, inked glyphs."""

    chars: list[str]
    distinct: int
    blank: int
    like_notdef: int


def han_glyphs(page: Page, limit: int = 40) -> Glyphs:
    """Fingerprints of up to ``limit`` Han characters of the page as the browser draws them."""
    found = page.evaluate(_HAN_GLYPHS_JS, limit)
    glyphs = [(g["ink"], g["hash"]) for g in found["glyphs"]]
    notdef = (found["notdef"]["ink"], found["notdef"]["hash"])
    return Glyphs(
        chars=found["chars"],
        distinct=len(set(glyphs)),
        blank=sum(1 for ink, _ in glyphs if ink == 0),
        like_notdef=sum(1 for glyph in glyphs if glyph == notdef),
    )
