"""Native runtimes' telemetry switched off before they load: the package contacts nothing itself.

ONNX Runtime's Linux build sends usage events to a Microsoft host (DNS queries for
``mobile.events.data.microsoft.com`` within seconds) unless ``ORT_DISABLE_TELEMETRY=1`` is in the
environment when its library loads; ``onnxruntime.disable_telemetry_events()`` does not stop it.
A perception node on a robot must contact nothing its user did not configure, so the package sets
the variable when it is imported (``bodypose3d_ros/__init__.py`` calls :func:`disable_telemetry`
first), which is before any of its modules imports ``onnxruntime``. A value the user set, "0"
included, is kept: that is an explicit choice. Child processes (a server the tests start) inherit
the variable with the environment.

The other native runtimes the package loads (mediapipe, ai-edge-litert, tritonclient/gRPC, Fast
DDS) send nothing on their own: README "Privacy" lists what was measured and how.
"""

from __future__ import annotations

import os
from typing import Final

TELEMETRY_OPT_OUTS: Final = {"ORT_DISABLE_TELEMETRY": "1"}


def disable_telemetry() -> None:
    """Set every opt-out variable that is unset or empty (a value the user chose is kept)."""
    for name, value in TELEMETRY_OPT_OUTS.items():
        if not os.environ.get(name):
            os.environ[name] = value
