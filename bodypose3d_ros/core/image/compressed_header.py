"""The format and pixel size of a JPEG or PNG payload, read from its header without decoding.

sensor_msgs/CompressedImage carries JPEG or PNG. Anything else (GIF, TIFF, WebP, ...) is refused
before OpenCV sees it, and the size a header declares is checked before OpenCV allocates memory
for it: a 35-byte file can declare 30000x30000 pixels.

JPEG headers are walked the way libjpeg reads them, so the size found is the size libjpeg will
decode: bytes that are not a marker are skipped (libjpeg warns "extraneous bytes before marker"
and goes on), fill bytes (0xFF runs) are skipped, and segments of any length (APP, COM, DQT, ...)
are jumped over until the first start-of-frame. The walk has a step budget, so a payload built to
make it slow is refused instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
JPEG_SOI: Final = b"\xff\xd8"
# Bytes read one by one (stray bytes, fill bytes) plus segments jumped, before giving up.
MAX_HEADER_STEPS: Final = 4096

# Start-of-frame markers SOF0..SOF15; C4 (DHT), C8 (JPG) and CC (DAC) share the range but are not.
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field: TEM, RST0..RST7 (SOI and EOI are handled on their own).
_STANDALONE_MARKERS: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS: Final = 0xDA
_EOI: Final = 0xD9


class HeaderError(ValueError):
    """A payload that is not a JPEG or PNG whose size can be read."""


@dataclass(frozen=True)
class ImageHeader:
    """What a compressed image declares: ``"jpeg"`` or ``"png"`` and its size in pixels."""

    format: str
    width: int
    height: int


def read_header(data: bytes | bytearray | memoryview) -> ImageHeader:
    """The format and declared size of a JPEG or PNG payload; raises HeaderError otherwise."""
    view = memoryview(data).cast("B")
    if bytes(view[:8]) == PNG_SIGNATURE:
        return _png_header(view)
    if bytes(view[:2]) == JPEG_SOI:
        return _jpeg_header(view)
    raise HeaderError(
        f"not a JPEG or PNG (starts with {bytes(view[:8])!r}); CompressedImage must carry one"
    )


def _png_header(view: memoryview) -> ImageHeader:
    # The IHDR chunk must come first: length (4), type "IHDR", width (4), height (4).
    if len(view) < 24 or bytes(view[12:16]) != b"IHDR":
        raise HeaderError("PNG without an IHDR chunk first: corrupt PNG")
    width = int.from_bytes(view[16:20], "big")
    height = int.from_bytes(view[20:24], "big")
    return ImageHeader("png", width, height)


def _jpeg_header(view: memoryview) -> ImageHeader:
    size = len(view)
    pos = 2
    for _ in range(MAX_HEADER_STEPS):
        if pos >= size:
            break
        if view[pos] != 0xFF:  # a stray byte: libjpeg skips it, so do we
            pos += 1
            continue
        if pos + 1 >= size:
            break
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        pos += 2
        if marker in _STANDALONE_MARKERS or marker == 0x00:
            continue
        if marker in (_SOS, _EOI):
            raise HeaderError("JPEG has no frame header (SOF) before its image data")
        if pos + 2 > size:
            break
        length = int.from_bytes(view[pos : pos + 2], "big")
        if length < 2:
            raise HeaderError(f"JPEG segment 0x{marker:02X} has an invalid length {length}")
        if marker in _SOF_MARKERS:
            if pos + 7 > size:
                break
            # Segment: length (2), precision (1), height (2), width (2), ...
            height = int.from_bytes(view[pos + 3 : pos + 5], "big")
            width = int.from_bytes(view[pos + 5 : pos + 7], "big")
            return ImageHeader("jpeg", width, height)
        pos += length
    else:
        raise HeaderError(
            f"JPEG frame header (SOF) not found within {MAX_HEADER_STEPS} markers or stray bytes"
        )
    raise HeaderError("JPEG ends before its frame header (SOF): truncated or corrupt")
