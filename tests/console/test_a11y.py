"""Accessibility basics checked without a browser: text contrast of the console's palette."""

from __future__ import annotations

import re

import pytest

from gateway.console.web import STATIC_DIR

CSS = (STATIC_DIR / "console.css").read_text()
VARIABLES = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _colour(name: str) -> str:
    return VARIABLES[name[2:]] if name.startswith("--") else name


# Text on its background, as the stylesheet pairs them (WCAG AA: 4.5:1 for body text).
PAIRS = [
    ("--ink", "--paper"), ("--ink", "--wash"), ("--muted", "--paper"), ("--muted", "--wash"),
    ("--accent", "--paper"), ("--accent-ink", "--accent"), ("#dce8f4", "--accent"),
    ("--paper", "--danger"), ("--paper", "--ok"), ("#5e0f0f", "#fbe7e7"), ("--ink", "#e3f1e6"),
    ("--ink", "#e6eaf0"), ("#ffffff", "#2a2a2a"), ("--ink", "#fde2e2"), ("--ink", "#fff3c4"),
    ("--ink", "#dfeafc"), ("--ink", "#efe2fa"), ("--ink", "#ffe5cc"), ("--ink", "#dff3e4"),
]


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_contrast_is_at_least_aa(text: str, background: str) -> None:
    ratio = contrast(_colour(text), _colour(background))
    assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f}:1"


def test_focus_is_always_visible() -> None:
    assert re.search(r":focus-visible[^{]*\{[^}]*outline:\s*3px solid", CSS)
    # The focus colour must stand out against the page background (3:1 for UI components).
    assert contrast(VARIABLES["focus"], VARIABLES["paper"]) >= 3


def test_contrast_helper_knows_black_on_white() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
