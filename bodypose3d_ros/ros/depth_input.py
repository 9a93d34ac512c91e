"""The node's depth input: buffer depth frames, pair them with colour frames, count what happened.

Kept out of the node so the node only hands over messages: pairing is the core's
:class:`DepthPairer`, decoding the core's ``decode_depth``; this class adds the ROS message
fields, the throttled logs and the counters that /diagnostics shows.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sensor_msgs.msg import Image

from bodypose3d_ros.core.depth.depth_continuity import DEPTH_AGE_KEY
from bodypose3d_ros.core.depth.depth_fusion import DepthAnchor
from bodypose3d_ros.core.depth.depth_image import (
    DepthImage,
    DepthImageError,
    registered_to,
    values_note,
)
from bodypose3d_ros.core.depth.depth_pairing import DepthPairer
from bodypose3d_ros.core.types import ROOT_DEPTH_DEPTH_IMAGE, Person3D
from bodypose3d_ros.ros.conversions import image_to_depth, stamp_seconds
from bodypose3d_ros.ros.diagnostics import DepthCounters

LOG_THROTTLE_S = 5.0


class DepthInput:
    """Depth frames in (executor thread), the paired DepthImage out (worker thread).

    ``logger`` is the node's logger; ``on_bad_input`` is told about every rejected depth frame
    (the node counts it as recent bad input, so /diagnostics warns). ``now`` is the node's ROS
    clock in seconds: a depth frame with a zero stamp is stamped with its arrival on it, as the
    node stamps a colour frame with none, so the two still pair by time. ``publishers`` counts
    the publishers on the depth topic (``Node.count_publishers``): with no depth ever received,
    it tells a wrong remap (none) from a QoS mismatch (some) in /diagnostics.
    """

    def __init__(
        self,
        logger: Any,
        topic: str,
        on_bad_input: Callable[[str], None] | None = None,
        now: Callable[[], float] | None = None,
        publishers: Callable[[], int] | None = None,
    ) -> None:
        self._logger = logger
        self._topic = topic
        self._on_bad_input = on_bad_input
        self._now = now
        self._publishers = publishers
        self._pairer: DepthPairer[Image] = DepthPairer()
        self._lock = threading.Lock()
        self._counters = DepthCounters(topic=topic)

    @property
    def counters(self) -> DepthCounters:
        publishers = self._publishers() if self._publishers is not None else -1
        with self._lock:
            return dataclasses.replace(self._counters, publishers=publishers)

    def _count(self, **increments: int) -> None:
        with self._lock:
            c = self._counters
            self._counters = dataclasses.replace(
                c, **{name: getattr(c, name) + n for name, n in increments.items()}
            )

    def on_message(self, msg: Image) -> None:
        """A depth frame arrived: keep it for pairing (decoded only if a colour frame takes it)."""
        stamp = stamp_seconds(msg.header)
        if stamp <= 0.0 and self._now is not None:  # an unstamped driver: its arrival time
            stamp = self._now()
        self._pairer.add(stamp, msg)
        self._count(depth_frames_received=1)

    def clear(self) -> None:
        self._pairer.clear()

    def interrupt(self) -> None:
        """End a pairing wait now (the worker is stopping) and wait no more until resume()."""
        self._pairer.interrupt()

    def resume(self) -> None:
        self._pairer.resume()

    def for_frame(
        self, stamp: float, width: int, height: int, max_offset_s: float, max_pixels: int
    ) -> DepthImage | None:
        """The depth image paired with the colour frame of ``stamp`` (seconds; the time the
        pipeline uses, i.e. its arrival for an unstamped frame), or None (counted, logged why)."""
        pairing = self._pairer.pair(stamp, max_offset_s, wait_s=max_offset_s)
        if pairing.item is None:
            self._count(frames_unpaired=1)
            self._logger.info(
                f"no depth for this frame: {pairing.reason}; using the limb-length distance",
                throttle_duration_sec=LOG_THROTTLE_S,
            )
            return None
        try:
            depth = image_to_depth(pairing.item, max_pixels)
            if not registered_to(depth, width, height):
                raise DepthImageError(
                    f"depth image {depth.width}x{depth.height} has another aspect ratio than "
                    f"the {width}x{height} colour image: it is not registered to it"
                )
        except DepthImageError as error:
            self._count(depth_frames_rejected=1)
            message = f"bad depth image on '{self._topic}': {error}"
            self._logger.warning(
                f"{message}; using the limb-length distance", throttle_duration_sec=LOG_THROTTLE_S
            )
            if self._on_bad_input is not None:
                self._on_bad_input(message)
            return None
        note = values_note(depth)
        if note is not None:  # still handed on: the fusion's per-person checks decide
            with self._lock:
                c = self._counters
                self._counters = dataclasses.replace(
                    c, image_notes=_counted(c.image_notes, [note[0]])
                )
            self._logger.warning(
                f"depth image on '{self._topic}': {note[1]}", throttle_duration_sec=LOG_THROTTLE_S
            )
        return depth

    def count_people(
        self, people: Sequence[Person3D], fallbacks: Sequence[DepthAnchor] = ()
    ) -> None:
        """Count each person's root depth source, and why depth was not used (``fallbacks``,
        the frame's failed measurements)."""
        from_depth = [p for p in people if p.root_depth_source == ROOT_DEPTH_DEPTH_IMAGE]
        carried = sum(1 for p in from_depth if p.extras.get(DEPTH_AGE_KEY, 0.0) > 0.0)
        with self._lock:
            c = self._counters
            self._counters = dataclasses.replace(
                c,
                people_from_depth=c.people_from_depth + len(from_depth),
                people_from_limb_lengths=c.people_from_limb_lengths + len(people) - len(from_depth),
                people_from_carried_depth=c.people_from_carried_depth + carried,
                fallback_causes=_counted(c.fallback_causes, [a.cause for a in fallbacks]),
            )


def _counted(
    counts: tuple[tuple[str, int], ...], keys: Sequence[str]
) -> tuple[tuple[str, int], ...]:
    """``counts`` with one more for each of ``keys`` (order of first appearance kept)."""
    if not keys:
        return counts
    merged = dict(counts)
    for key in keys:
        merged[key] = merged.get(key, 0) + 1
    return tuple(merged.items())
