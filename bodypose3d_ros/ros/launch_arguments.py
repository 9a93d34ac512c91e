"""Turning launch arguments into node parameters (kept free of launch imports, so it is testable).

Every node parameter is also a launch argument. An argument left empty means "not given", so the
value comes from the params file (or the node's default) instead of overriding it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bodypose3d_ros.ros.parameters import defaults

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


def parameter_overrides(raw: Mapping[str, str]) -> dict[str, Any]:
    """Typed parameter values for the launch arguments that were given (non-empty)."""
    base = defaults()
    typed: dict[str, Any] = {}
    for name, text in raw.items():
        if name not in base or text == "":
            continue
        default = base[name]
        if isinstance(default, bool):
            word = text.strip().lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise ValueError(f"launch argument {name}:={text!r} must be true or false")
            typed[name] = word in TRUE_WORDS
        elif isinstance(default, int):
            try:
                typed[name] = int(text)
            except ValueError:
                raise ValueError(f"launch argument {name}:={text!r} must be an integer") from None
        elif isinstance(default, float):
            try:
                typed[name] = float(text)
            except ValueError:
                raise ValueError(f"launch argument {name}:={text!r} must be a number") from None
        else:
            typed[name] = text
    return typed
