"""An MCAP file cut short (a recorder killed, a copy interrupted): read what is there.

Such a file has no summary and no footer, which ``rosbags`` needs to open it. The MCAP
library's own :class:`StreamReader` reads records from the start instead; this class scans the
readable part once for its topics, then serves its messages with the same attributes and
methods as ``rosbags``' ``AnyReader`` (``connections``, ``messages``, ``deserialize``), so the
rest of the bag code does not know the difference. Reading ends with a ``ReaderError`` where
the file stops making sense, which the frame loop reports as "unreadable after ...".
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    MessageDefinition,
    MessageDefinitionFormat,
)
from rosbags.rosbag2 import ReaderError
from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore

STREAM_ERRORS = (McapError, EOFError, ValueError, KeyError, IndexError, OSError)


class CutMcapReader:
    """The readable part of one MCAP file; see the module docstring."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.typestore = get_typestore(Stores.ROS2_JAZZY)
        self.connections: list[Connection] = []
        self.start_time = 2**63 - 1
        self.end_time = 0
        self.stack: object | None = self  # open until close(), as AnyReader's stack says
        counts: dict[int, int] = {}
        schemas: dict[int, Schema] = {}
        channels: dict[int, Channel] = {}
        for record in self._records():
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                channels[record.id] = record
            elif isinstance(record, Message):
                counts[record.channel_id] = counts.get(record.channel_id, 0) + 1
                self.start_time = min(self.start_time, record.log_time)
                self.end_time = max(self.end_time, record.log_time + 1)
        if not counts:
            raise ReaderError("no message can be read from it")
        self._by_channel: dict[int, Connection] = {}
        for channel in channels.values():
            schema = schemas.get(channel.schema_id)
            if schema is None or channel.message_encoding != "cdr":
                continue
            self._register(schema)
            connection = Connection(
                id=channel.id,
                topic=channel.topic,
                msgtype=schema.name,
                msgdef=MessageDefinition(MessageDefinitionFormat.NONE, ""),
                digest="",
                msgcount=counts.get(channel.id, 0),
                ext=ConnectionExtRosbag2(serialization_format="cdr", offered_qos_profiles=[]),
                owner=self,
            )
            self.connections.append(connection)
            self._by_channel[channel.id] = connection

    def _register(self, schema: Schema) -> None:
        """A type the standard store lacks, from the definition stored with the channel."""
        if schema.name in self.typestore.fielddefs or schema.encoding != "ros2msg":
            return
        try:
            types = get_types_from_msg(schema.data.decode(), schema.name)
            self.typestore.register(
                {k: v for k, v in types.items() if k not in self.typestore.fielddefs}
            )
        except (TypesysError, UnicodeDecodeError):
            pass  # a type we cannot parse is one no image topic needs

    def _records(self) -> Iterator[Any]:
        """Records from the start; stops quietly at the cut (``messages`` reports it)."""
        try:
            yield from self._stream()
        except STREAM_ERRORS:
            return

    def _stream(self) -> Iterator[Any]:
        with self.path.open("rb") as stream:
            yield from StreamReader(stream, skip_magic=False).records

    def messages(
        self, connections: Collection[Connection] = (), start: int | None = None,
        stop: int | None = None,
    ) -> Iterator[tuple[Connection, int, bytes]]:  # fmt: skip
        """(connection, log time, raw) in file order; ReaderError where the file is cut."""
        wanted = {c.id for c in connections} if connections else set(self._by_channel)
        try:
            for record in self._stream():
                if not isinstance(record, Message) or record.channel_id not in wanted:
                    continue
                if start is not None and record.log_time < start:
                    continue
                if stop is not None and record.log_time >= stop:
                    continue
                yield self._by_channel[record.channel_id], record.log_time, record.data
        except STREAM_ERRORS as exc:
            raise ReaderError(
                f"the file is cut short or damaged ({str(exc) or type(exc).__name__})"
            ) from exc

    def deserialize(self, raw: bytes, msgtype: str) -> object:
        return self.typestore.deserialize_cdr(raw, msgtype)

    def close(self) -> None:
        self.stack = None
