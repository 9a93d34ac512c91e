"""Validating JSON against a draft 2020-12 schema with whichever ``jsonschema`` is installed.

ROS 2 Humble's platform (Ubuntu 22.04) ships ``python3-jsonschema`` 3.2, which has no
``Draft202012Validator``; its newest is draft 7. Draft 7 silently ignores the 2020-12 keywords
our schemas use (``prefixItems``, ``items: false``, ``dependentRequired``), so validating with it
as is would accept broken records. Instead the schema is rewritten into the draft-7 spelling of
the same rules (``items`` as a list + ``additionalItems``, ``dependencies``), which keeps every
check.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Final

DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"
DRAFT_7: Final = "http://json-schema.org/draft-07/schema#"
# Newest first: the first one the installed jsonschema has is used.
VALIDATOR_NAMES: Final = ("Draft202012Validator", "Draft7Validator")


def as_draft7(schema: Any) -> Any:
    """The draft-7 form of a draft 2020-12 ``schema`` (a new object; the input is unchanged)."""
    if isinstance(schema, list):
        return [as_draft7(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema":
            out[key] = DRAFT_7
        elif key == "prefixItems":
            out["items"] = as_draft7(value)
            if "items" in schema:  # 2020-12 `items` after prefixItems = draft 7 additionalItems
                out["additionalItems"] = as_draft7(schema["items"])
        elif key == "items" and "prefixItems" in schema:
            continue  # became additionalItems above
        elif key == "dependentRequired":
            out.setdefault("dependencies", {}).update(value)
        elif key in ("properties", "$defs", "definitions", "dependentSchemas"):
            out[key] = {name: as_draft7(sub) for name, sub in value.items()}
        else:
            out[key] = as_draft7(value)
    return out


def validator_for(schema: dict[str, Any], jsonschema: ModuleType) -> Any:
    """A validator of ``schema`` (draft 2020-12) from the ``jsonschema`` module given.

    Raises ``RuntimeError`` naming the version needed when the module has none of
    :data:`VALIDATOR_NAMES`.
    """
    if hasattr(jsonschema, "Draft202012Validator"):
        return jsonschema.Draft202012Validator(schema)
    if hasattr(jsonschema, "Draft7Validator"):
        return jsonschema.Draft7Validator(as_draft7(schema))
    version = getattr(jsonschema, "__version__", "unknown")
    raise RuntimeError(
        f"jsonschema {version} has neither of {', '.join(VALIDATOR_NAMES)}: "
        "install jsonschema >= 3.0 (e.g. pip install 'jsonschema>=4')"
    )
