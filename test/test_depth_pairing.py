"""Pairing colour frames with the depth frame nearest in stamp, waiting only when it helps."""

from __future__ import annotations

import threading

import pytest

from bodypose3d_ros.core.depth.depth_pairing import DepthPairer


def test_nearest_stamp_within_the_offset_wins() -> None:
    pairer: DepthPairer[str] = DepthPairer()
    for stamp, name in ((9.95, "a"), (9.985, "b"), (10.004, "c"), (10.03, "d")):
        pairer.add(stamp, name)
    pairing = pairer.pair(10.0, max_offset_s=0.02)
    assert pairing.item == "c"
    assert pairing.offset_s == pytest.approx(0.004)
    assert pairer.pair(9.99, max_offset_s=0.02).item == "b"


def test_equally_near_depth_frames_pair_with_the_newest() -> None:
    """Repeated stamps (a driver that does not stamp, or stamps per batch): the newest frame, not
    the one that has been in the buffer longest."""
    pairer: DepthPairer[str] = DepthPairer()
    for name in ("oldest", "older", "newest"):
        pairer.add(5.0, name)
    assert pairer.pair(5.0, max_offset_s=0.02).item == "newest"
    pairer.add(5.01, "after")
    pairer.add(4.99, "before, but received last")
    assert pairer.pair(5.0, max_offset_s=0.02).item == "newest"  # exact stamp still wins


def test_nothing_within_the_offset_is_unpaired_and_says_how_far() -> None:
    pairer: DepthPairer[str] = DepthPairer()
    assert pairer.pair(1.0, 0.02).reason == "no depth image received"
    pairer.add(1.5, "late")
    pairing = pairer.pair(1.0, 0.02)
    assert pairing.item is None
    assert "500.0 ms" in pairing.reason


def test_the_buffer_keeps_only_the_newest_frames() -> None:
    pairer: DepthPairer[int] = DepthPairer(capacity=3)
    for i in range(10):
        pairer.add(float(i), i)
    assert len(pairer) == 3
    assert pairer.pair(0.0, 100.0).item == 7  # 0..6 are gone
    pairer.clear()
    assert len(pairer) == 0


def test_a_late_depth_frame_is_waited_for_while_the_stream_is_alive() -> None:
    """Depth is often published just after colour: the pairing waits for it (bounded)."""
    pairer: DepthPairer[str] = DepthPairer()
    pairer.add(0.967, "previous")  # the stream is alive, but has nothing as new as 1.0 yet
    assert pairer.pair(1.0, max_offset_s=0.04).item == "previous"  # what not waiting gives
    result: list[str | None] = []
    waiting = threading.Event()

    def pair() -> None:
        waiting.set()
        result.append(pairer.pair(1.0, max_offset_s=0.04, wait_s=60.0).item)

    thread = threading.Thread(target=pair)
    thread.start()
    assert waiting.wait(10.0)
    pairer.add(1.001, "matching")  # arrives after the colour frame asked for it
    thread.join(60.0)
    assert not thread.is_alive()
    assert result == ["matching"]


def test_no_wait_when_a_frame_at_least_as_new_is_there_or_the_stream_is_dead() -> None:
    now = [100.0]
    pairer: DepthPairer[str] = DepthPairer(alive_s=1.0, clock=lambda: now[0])
    pairer.add(2.0, "newer")  # newer than the colour frame: nothing nearer can come
    assert pairer.pair(1.99, 0.04, wait_s=3600.0).item == "newer"
    now[0] += 5.0  # no depth for 5 s: a dead stream is not waited for
    assert pairer.pair(3.0, 0.04, wait_s=3600.0).item is None
    with pytest.raises(ValueError, match="capacity"):
        DepthPairer(capacity=0)


def _pair_in_thread(pairer: DepthPairer[str], stamp: float) -> tuple[threading.Thread, list]:
    result: list[str | None] = []
    thread = threading.Thread(
        target=lambda: result.append(pairer.pair(stamp, max_offset_s=0.04, wait_s=3600.0).item)
    )
    thread.start()
    return thread, result


def test_interrupt_ends_a_wait_at_once_and_resume_waits_again() -> None:
    """Shutdown while a colour frame waits for its depth frame: the wait (up to an hour here, on a
    clock that never moves, so only the interrupt can end it) ends, the frame pairs with what is
    there; until resumed no pairing waits."""
    pairer: DepthPairer[str] = DepthPairer(alive_s=1.0, clock=lambda: 100.0)
    pairer.add(0.967, "previous")  # alive, nothing as new as 1.0: the pairing waits
    thread, result = _pair_in_thread(pairer, 1.0)
    pairer.interrupt()
    thread.join(60.0)
    assert not thread.is_alive(), "the interrupt did not end the wait"
    assert result == ["previous"]
    thread, result = _pair_in_thread(pairer, 1.005)  # interrupted: no new wait
    thread.join(60.0)
    assert not thread.is_alive()
    assert result == ["previous"]
    pairer.resume()
    thread, result = _pair_in_thread(pairer, 1.066)
    pairer.add(1.067, "matching")  # only a pairing that waited can take it
    thread.join(60.0)
    assert result == ["matching"]
