"""Matcher exceptions.

    MatcherError
    ├── UnusableCapture   a capture that cannot give a template (reason code + measured quality)
    └── TemplateError     a template that is malformed (bad ISO record, wrong-length embedding)
"""

from __future__ import annotations


class MatcherError(Exception):
    """Base of every error the matchers raise."""


class UnusableCapture(MatcherError):
    """The capture cannot give a usable template; ``reason`` is a stable code for clients."""

    def __init__(self, reason: str, message: str, quality: dict | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.quality = quality or {}

    def __reduce__(self):
        # Raised in extraction worker processes and re-raised in the gateway: pickle the three
        # arguments (Exception's default pickles ``args``, the message only).
        return (type(self), (self.reason, self.message, self.quality))


class TemplateError(MatcherError):
    """A template is malformed or of the wrong shape."""
