"""The error a bad input raises, and how its one-line message is worded.

A leaf module: it imports nothing from the project, so every module that refuses input
(config, schema, fields, collisions, checkpoint, C kernels, preflight) can import it without
forming an import cycle. ``solvers.run`` turns a :class:`ConfigError` into one line on stderr,
``moyal-run: error: <message>``, and exit code 2.

Message style: ``<key> = <value>: expected <what would be accepted>`` (:func:`bad_value`),
with ``(did you mean 'nx'?)`` after an unknown name that is close to a valid one
(:func:`suggest`).
"""

from __future__ import annotations

import difflib
import reprlib

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 240  # a whole file-name component (200 characters) shows
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 8
_REPR.maxlevel = 3


class ConfigError(ValueError):
    """A bad configuration value; ``str(err)`` is a one-line message for the user."""


def value_text(value) -> str:
    """``repr(value)``, shortened so that a message stays one line (long lists, deep tables)."""
    return _REPR.repr(value)


def bad_value(key: str, value, expected: str) -> ConfigError:
    """``ConfigError("<key> = <value>: expected <expected>")`` (to be raised by the caller)."""
    return ConfigError(f"{key} = {value_text(value)}: expected {expected}")


def suggest(name, valid) -> str:
    """``" (did you mean 'x'?)"`` for the valid name closest to ``name``, or ``""``."""
    if not isinstance(name, str):
        return ""
    near = difflib.get_close_matches(name, [str(v) for v in valid], n=1)
    return f" (did you mean '{near[0]}'?)" if near else ""
