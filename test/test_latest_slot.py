"""The newest-frame-wins mailbox between the subscription and the worker."""

from __future__ import annotations

import threading
import time

from bodypose3d_ros.core.latest_slot import LatestSlot


def test_newest_item_wins_and_replaced_items_are_counted() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.put(3) is True
    assert slot.dropped == 2
    assert slot.take(0.0) == 3
    assert slot.take(0.0) is None  # nothing left: old frames were never queued


def test_take_waits_for_a_put_from_another_thread() -> None:
    slot: LatestSlot[str] = LatestSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    start = time.monotonic()
    assert slot.take(5.0) == "frame"
    assert time.monotonic() - start < 4.0


def test_close_wakes_a_waiting_worker() -> None:
    slot: LatestSlot[int] = LatestSlot()
    results: list[int | None] = []
    worker = threading.Thread(target=lambda: results.append(slot.take(10.0)))
    worker.start()
    time.sleep(0.05)
    slot.close()
    worker.join(2.0)
    assert not worker.is_alive()
    assert results == [None]
    slot.reopen()
    slot.put(7)
    assert slot.take(0.0) == 7
