"""Fast DDS transport recipes for camera-sized images between processes on one machine.

With Fast DDS's defaults a raw 640x480 image (900 kB) does not fit the 512 kB shared-memory
segments, so it goes over UDP loopback in 64 kB fragments, and a best-effort sample that loses
one fragment is gone. Each recipe here is a set of environment variables read by Fast DDS when a
process starts; it must be set in every process on the topic (the camera driver too), which is
why it is environment, not a node parameter. `bench/dds_delivery.py` measures them side by side.
Kept free of launch imports, so the launch file's choice is testable.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

# Fast DDS 2.x (Humble, Jazzy) reads the first, 3.x (Kilted and later) the second.
PROFILE_VARIABLES: Final = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
BUILTIN_TRANSPORTS_VARIABLE: Final = "FASTDDS_BUILTIN_TRANSPORTS"
ALL_VARIABLES: Final = (*PROFILE_VARIABLES, BUILTIN_TRANSPORTS_VARIABLE)

DDS_TRANSPORTS: Final[dict[str, str]] = {
    "default": "leave the environment as it is (Fast DDS defaults unless already set)",
    "large_data": "FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA (Fast DDS >= 2.13, Jazzy): "
    "shared memory + TCP for data, UDP for discovery",
    "shm_profile": "the shipped profile config/fastdds_large_images.xml: "
    "shared memory with 16 MB segments, UDP for discovery and other hosts",
}
PROFILE_FILE_NAME: Final = "fastdds_large_images.xml"


def dds_transport_environment(transport: str, profile_file: str | Path) -> dict[str, str]:
    """The environment variables that select ``transport`` (one of :data:`DDS_TRANSPORTS`).

    ``profile_file`` is the shipped XML profile, used by ``shm_profile``. ``default`` adds
    nothing, so a profile exported in the user's shell still applies.
    """
    choice = transport.strip().lower()
    if choice == "default":
        return {}
    if choice == "large_data":
        return {BUILTIN_TRANSPORTS_VARIABLE: "LARGE_DATA"}
    if choice == "shm_profile":
        return {name: str(profile_file) for name in PROFILE_VARIABLES}
    raise ValueError(f"dds_transport:={transport!r} is not one of {', '.join(DDS_TRANSPORTS)}")


def environment_with_transport(
    base: Mapping[str, str], transport: str, profile_file: str | Path
) -> dict[str, str]:
    """``base`` with exactly ``transport``'s Fast DDS variables: the others' are removed, so a
    measurement of one recipe is never skewed by a variable left over in the caller's shell."""
    env = {key: value for key, value in base.items() if key not in ALL_VARIABLES}
    env.update(dds_transport_environment(transport, profile_file))
    return env
