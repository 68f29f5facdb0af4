"""Console fixtures: the headless browser (skips cleanly when none can be had)."""

from .browser import browser  # noqa: F401 - a fixture, registered by being here
