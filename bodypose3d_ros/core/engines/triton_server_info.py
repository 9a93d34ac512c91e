"""What a Triton server says about itself, in words fit for a log line or an error message.

Kept apart from the engine so its messages (a short reason from a client exception, the models
a server serves) read the same wherever the engine reports a problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def reason(error: Exception) -> str:
    """A short reason from a tritonclient exception (its status and first message line)."""
    status = getattr(error, "status", None)
    message = getattr(error, "message", None)
    text = message() if callable(message) else str(error)
    first = (str(text or type(error).__name__).strip().splitlines() or [""])[0][:200]
    code = status() if callable(status) else None
    return f"{code}: {first}" if code else first


def _model_entry(model: Mapping[str, Any], state: str) -> str:
    """ "name v1 (ready)" from an index or statistics entry (the index may give no version)."""
    version = f" v{model['version']}" if model.get("version") else ""
    return f"{model.get('name')}{version} ({state.lower()})"


def served_models(client: Any, timeout_s: float, server_error: type[Exception]) -> str:
    """What the server serves, for the message about a model it lacks ("" if it won't say).

    The repository index lists every model with its state; a server whose models are loaded
    through its API (pytriton, explicit model control) leaves it empty, and then the ready
    models are those with statistics. ``server_error`` is the client's exception type.
    """
    try:
        index = client.get_model_repository_index(as_json=True, client_timeout=timeout_s)
        listed = [_model_entry(m, m.get("state") or "unknown") for m in index.get("models", [])]
        if not listed:
            stats = client.get_inference_statistics(as_json=True, client_timeout=timeout_s)
            listed = [_model_entry(m, "ready") for m in stats.get("model_stats", [])]
    except server_error:
        return ""
    return ", ".join(sorted(listed))
