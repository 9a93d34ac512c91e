"""The newest-frame-wins mailbox between the subscription and the worker."""

from __future__ import annotations

import threading

from bodypose3d_ros.ros.latest_slot import LatestSlot


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
    results: list[str | None] = []
    taking = threading.Event()

    def worker() -> None:
        taking.set()
        results.append(slot.take(60.0))  # the timeout only bounds a failure

    thread = threading.Thread(target=worker)
    thread.start()
    assert taking.wait(10.0)
    assert results == []  # nothing to take yet: the worker is still waiting
    slot.put("frame")
    thread.join(60.0)
    assert results == ["frame"]


def test_close_wakes_a_waiting_worker() -> None:
    slot: LatestSlot[int] = LatestSlot()
    results: list[int | None] = []
    taking = threading.Event()

    def take() -> None:
        taking.set()
        results.append(slot.take(60.0))  # woken by close long before this timeout

    worker = threading.Thread(target=take)
    worker.start()
    assert taking.wait(10.0)
    slot.close()
    worker.join(30.0)
    assert not worker.is_alive()
    assert results == [None]
    slot.reopen()
    slot.put(7)
    assert slot.take(0.0) == 7
