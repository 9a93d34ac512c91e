"""The package contacts nothing on its own: no DNS query, no connection off loopback.

Everything the package starts runs under ``strace -f`` for at least OBSERVE_S seconds while it
works: the node with ONNX Runtime (the contract fixture model), the node on the default path
(MoveNet on ai-edge-litert + BlazePose on mediapipe), the node with engine triton and the Triton
test server it talks to (ONNX Runtime inside pytriton). Every ``connect``/``sendto``/``sendmsg``/
``sendmmsg`` with an internet address is checked: loopback passes; port 53 (a DNS query, even to
a resolver on loopback) and any other address fail the test. Multicast is Fast DDS discovery,
ROS traffic the user configures by running ROS (ROS_AUTOMATIC_DISCOVERY_RANGE; the tests keep
it on this machine): it is reported in the failure message but not counted as phoning home.
ONNX Runtime 1.32 without ORT_DISABLE_TELEMETRY queried DNS for its telemetry host within 2 s of
its first session, then every few seconds, so the window catches it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from node_harness import ProcessHarness, make_camera_info, make_image_msg, wait_for

from bodypose3d_ros.testing.contract_model import write_contract_model
from bodypose3d_ros.testing.triton_server import (
    ServerEnvironmentMissingError,
    TritonTestServer,
    server_python,
)

pytestmark = pytest.mark.slow

OBSERVE_S = 30.0
TRACED_CALLS = "trace=connect,sendto,sendmsg,sendmmsg"
_FAMILY = re.compile(r"sa_family=(AF_INET6?)")
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
_ADDRESS = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"')


def _strace() -> str:
    """The strace binary; skip without it, except in CI, where .ci/run installs it."""
    found = shutil.which("strace")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("strace is missing in CI: .ci/run installs it (apt-get install strace)")
    pytest.skip("strace is not installed (apt-get install strace): cannot watch the network")


def _prefix(strace: str, log: Path) -> list[str]:
    """Trace the network calls of a command and all its children into ``log``."""
    return [strace, "-f", "-qq", "--seccomp-bpf", "-e", TRACED_CALLS, "-o", str(log)]


def destinations(trace: str) -> Iterator[tuple[str, int, str]]:
    """(address, port, line) of every internet destination in an strace log."""
    for line in trace.splitlines():
        if not _FAMILY.search(line):
            continue
        port = _PORT.search(line)
        address = _ADDRESS.search(line)
        if port and address:
            yield (address.group(1) or address.group(2)), int(port.group(1)), line


def phoning_home(trace: str) -> tuple[list[str], list[str]]:
    """The lines that contact something off this machine or query DNS, and the multicast ones."""
    bad, multicast = [], []
    for address, port, line in destinations(trace):
        ip = ipaddress.ip_address(address)
        mapped = getattr(ip, "ipv4_mapped", None)
        ip = mapped or ip
        if port == 53:
            bad.append(line)
        elif ip.is_multicast:
            multicast.append(line)
        elif not (ip.is_loopback or ip.is_unspecified):
            bad.append(line)
    return bad, multicast


def test_the_classifier_flags_dns_and_remote_hosts_and_passes_loopback() -> None:
    """The check below is only as good as its reading of strace's lines (real lines, 6.1)."""
    dns = (
        "23066 connect(8, {sa_family=AF_INET, sin_port=htons(53), "
        'sin_addr=inet_addr("10.255.255.53")}, 16) = 0'
    )
    local_dns = dns.replace("10.255.255.53", "127.0.0.53")
    remote6 = (
        "1 connect(5, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "2603:1030::1", &sin6_addr), sin6_scope_id=0}, 28) = -1'
    )
    loop = dns.replace("htons(53)", "htons(8001)").replace("10.255.255.53", "127.0.0.1")
    mapped = remote6.replace("2603:1030::1", "::ffff:127.0.0.1")
    dds = (
        '7 sendto(12, "RTPS"..., 72, 0, {sa_family=AF_INET, sin_port=htons(7400), '
        'sin_addr=inet_addr("239.255.0.1")}, 16) = 72'
    )
    bad, multicast = phoning_home("\n".join([dns, local_dns, remote6, loop, mapped, dds]))
    assert bad == [dns, local_dns, remote6]
    assert multicast == [dds]


@pytest.fixture(scope="module")
def contract_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_contract_model(tmp_path_factory.mktemp("phoning") / "contract.onnx")


def test_nothing_the_package_starts_contacts_anything_off_this_machine(
    ros_context: Any, contract_model: Path, person_image_path: Path, tmp_path: Path
) -> None:
    """Where no Triton test server can exist (no Python 3.13), the nodes are watched without it,
    with a warning."""
    import cv2

    strace = _strace()
    photo = cv2.imread(str(person_image_path))
    assert photo is not None
    plain = np.full((240, 320, 3), 40, np.uint8)
    logs = {name: tmp_path / f"{name}.strace" for name in ("ort", "blazepose")}
    server: TritonTestServer | None = None
    try:
        triton_python = server_python()
    except ServerEnvironmentMissingError as missing:  # the nodes are still watched
        warnings.warn(f"Triton left out of the network check: {missing}", stacklevel=1)
    else:
        logs.update(triton_server=tmp_path / "triton_server.strace",
                    triton=tmp_path / "triton.strace")  # fmt: skip
        traced = _prefix(strace, logs["triton_server"])
        server = TritonTestServer(
            triton_python, {"bodypose3dnet": contract_model}, tmp_path, command_prefix=traced
        )
        server.start()
    # detector none: every frame goes to the model (the plain image has nobody to detect).
    nodes = {
        "ort": ProcessHarness(ros_context, name="phone_ort",
                              command_prefix=_prefix(strace, logs["ort"]),
                              backend="bodypose3dnet", engine="onnxruntime",
                              model_path=str(contract_model), detector="none"),
        "blazepose": ProcessHarness(ros_context, name="phone_blazepose",
                                    command_prefix=_prefix(strace, logs["blazepose"])),
    }  # fmt: skip
    if server is not None:
        nodes["triton"] = ProcessHarness(ros_context, name="phone_triton",
                                         command_prefix=_prefix(strace, logs["triton"]),
                                         backend="bodypose3dnet", engine="triton",
                                         triton_url=server.url, detector="none")  # fmt: skip
    started = time.monotonic()  # the last process started now: the window counts from here
    frames = {"ort": plain, "blazepose": photo, "triton": plain}
    stop = threading.Event()

    def camera() -> None:  # a camera at about 5 Hz for each node
        stamp = 100.0
        while not stop.wait(0.2):
            stamp += 0.2
            for name, harness in nodes.items():
                height, width = frames[name].shape[:2]
                harness.info_pub.publish(make_camera_info(width, height, 500, 500, 160, 120))
                harness.image_pub.publish(make_image_msg(frames[name], stamp))

    streaming = threading.Thread(target=camera, daemon=True)
    try:
        for harness in nodes.values():
            harness.wait_until_active(timeout_s=120.0)
        streaming.start()
        for name, harness in nodes.items():  # each path really runs its model
            assert wait_for(lambda h=harness: len(h.poses) >= 3, 120.0), (  # type: ignore[misc]
                f"node {name} published no poses:\n{harness.node.log()[-2000:]}"
            )
        # Telemetry needs no frames: what counts is the time every process has been running.
        stop.wait(max(0.0, started + OBSERVE_S - time.monotonic()))
        assert all(h.process.poll() is None for h in nodes.values())
    finally:
        stop.set()
        streaming.join(5.0)
        node_logs = {name: harness.close() for name, harness in nodes.items()}
        if server is not None:
            server.stop()
    report = []
    for name, log in logs.items():
        trace = log.read_text(errors="replace")
        assert any(destinations(trace)) or name == "triton_server", f"{name}: nothing traced"
        bad, multicast = phoning_home(trace)
        if multicast:  # ROS discovery beyond this machine: the user's setting, reported apart
            warnings.warn(
                f"{name}: {len(multicast)} multicast sends (Fast DDS discovery)", stacklevel=1
            )
        if bad:
            report.append(f"{name}: {len(bad)} calls off loopback / DNS:\n" + "\n".join(bad[:10]))
            report.append(f"  (and {len(multicast)} multicast sends: Fast DDS discovery)")
    assert not report, "\n".join(report) + "\n" + str({k: v[-500:] for k, v in node_logs.items()})
