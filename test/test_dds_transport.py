"""Fast DDS recipes for large images: the environment each one sets, the shipped profile, and
the delivery benchmark run end to end with real publisher and subscriber processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bodypose3d_ros.ros.dds_transport import (
    ALL_VARIABLES,
    DDS_TRANSPORTS,
    PROFILE_FILE_NAME,
    dds_transport_environment,
    environment_with_transport,
)

REPO = Path(__file__).resolve().parent.parent
PROFILE = REPO / "config" / PROFILE_FILE_NAME


def test_default_adds_nothing_and_the_others_set_their_variables() -> None:
    assert dds_transport_environment("default", PROFILE) == {}
    assert dds_transport_environment("large_data", PROFILE) == {
        "FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"
    }
    # Fast DDS 2.x (Humble, Jazzy) and 3.x read different names: both are set.
    assert dds_transport_environment(" SHM_Profile ", PROFILE) == {
        "FASTRTPS_DEFAULT_PROFILES_FILE": str(PROFILE),
        "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE),
    }
    with pytest.raises(ValueError, match="not one of default, large_data, shm_profile"):
        dds_transport_environment("tcp", PROFILE)


def test_a_measured_environment_holds_exactly_one_recipe() -> None:
    shell = {"PATH": "/usr/bin", "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4",
             "FASTRTPS_DEFAULT_PROFILES_FILE": "/old.xml"}  # fmt: skip
    assert environment_with_transport(shell, "default", PROFILE) == {"PATH": "/usr/bin"}
    shm = environment_with_transport(shell, "shm_profile", PROFILE)
    assert shm["FASTRTPS_DEFAULT_PROFILES_FILE"] == str(PROFILE)
    assert "FASTDDS_BUILTIN_TRANSPORTS" not in shm
    assert shell["FASTRTPS_DEFAULT_PROFILES_FILE"] == "/old.xml"  # the input is left alone
    assert set(ALL_VARIABLES) >= set(dds_transport_environment("shm_profile", PROFILE))


def test_the_shipped_profile_gives_shared_memory_room_for_1280x720_frames() -> None:
    ns = {"p": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ET.parse(PROFILE).getroot()
    shm = [t for t in root.iterfind(".//p:transport_descriptor", ns)
           if t.findtext("p:type", namespaces=ns) == "SHM"]  # fmt: skip
    assert len(shm) == 1
    segment = int(shm[0].findtext("p:segment_size", namespaces=ns) or 0)
    assert segment >= 2 * 1280 * 720 * 3  # two 1280x720 bgr8 frames in flight
    participant = root.find(".//p:participant", ns)
    assert participant is not None
    assert participant.get("is_default_profile") == "true"  # applies without code changes
    used = {t.text for t in participant.iterfind(".//p:userTransports/p:transport_id", ns)}
    assert shm[0].findtext("p:transport_id", namespaces=ns) in used
    assert "udp" in used  # discovery and other hosts still work


@pytest.mark.slow
def test_delivery_benchmark_measures_every_size_and_shm_profile_delivers(
    tmp_path: Path,
) -> None:
    pytest.importorskip("rclpy", reason="rclpy missing: run the tests via tools/with-env")
    out = tmp_path / "dds.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.dds_delivery", "--recipes", "shm_profile",
         "--frames", "10", "--rate", "10", "--out", str(out)],
        cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert {(r["ends"], r["size"]) for r in rows} == {
        (ends, size) for ends in ("both ends", "node end only") for size in ("640x480", "1280x720")
    }
    for row in rows:
        assert row["recipe"] == "shm_profile"
        assert row["error"] == ""
        assert row["sent"] == 10
        assert 0 <= row["delivered"] <= row["sent"]
    both = [r for r in rows if r["ends"] == "both ends"]
    # Shared memory with room for the frame: best-effort images of both sizes arrive at all
    # (with Fast DDS defaults a 1280x720 frame does not fit a UDP socket buffer).
    assert all(r["delivered"] > 0 for r in both), both
    assert "shm_profile" in run.stdout
    assert set(DDS_TRANSPORTS) == {"default", "large_data", "shm_profile"}
