"""Request and answer tensors through system shared memory when Triton runs on this machine.

Instead of serialising the crops (about 590 KB per person) into every gRPC message, the engine
writes them into a ``/dev/shm`` region the server has mapped and tells it where they are; the
server writes the outputs into a second region. Only works when client and server share a
kernel, so the engine tries it only for a local server and falls back to plain gRPC otherwise.

A request that timed out on this side may still run on the server, which then refuses to
unregister its regions ("in use") and to register them again ("already in manager"):
:meth:`SharedMemoryIO.register` says so with :class:`RegionsInUseError`, and the engine sends
tensors over gRPC until the server has let go of them. Neither reused while the late answer may
still write into them, nor replaced by new ones, which a server that keeps timing out would pile up.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from bodypose3d_ros.core.engines.base import Tensor
from bodypose3d_ros.core.engines.triton_server_info import reason

_FLOAT_BYTES = np.dtype(np.float32).itemsize
_instances = itertools.count()


class RegionsInUseError(RuntimeError):
    """The server still holds the regions, for a request it has not finished."""


def _already_registered(error: Exception) -> bool:
    status = getattr(error, "status", None)
    code = status() if callable(status) else ""
    return "ALREADY_EXISTS" in str(code) or "already in manager" in str(error)


class SharedMemoryIO:
    """One input and one output region, each holding every tensor for ``max_rows`` rows.

    ``row_shapes`` map tensor names to their shape without the batch dimension. Creating this
    registers both regions with the server; :meth:`close` unregisters and frees them.
    """

    def __init__(
        self,
        client: Any,
        input_shapes: Mapping[str, Sequence[int]],
        output_shapes: Mapping[str, Sequence[int]],
        max_rows: int,
    ) -> None:
        import tritonclient.utils.shared_memory as shm

        self._shm: Any = shm
        self._client = client
        self._row_bytes = {
            name: int(np.prod(shape)) * _FLOAT_BYTES
            for name, shape in {**input_shapes, **output_shapes}.items()
        }
        self._max_rows = max_rows
        self._input_offsets, input_size = self._layout(list(input_shapes))
        self._output_offsets, output_size = self._layout(list(output_shapes))
        tag = f"bodypose3d_{os.getpid()}_{next(_instances)}"
        self._regions: list[tuple[str, Any, int]] = []
        # /dev/shm outlives the process: free the regions even if close() is never called
        # (a node that exits without cleanup), at the latest when the interpreter exits.
        self._finalizer = weakref.finalize(self, _destroy, shm, self._regions)
        try:
            self._input_name, self._input = self._create(f"{tag}_in", input_size)
            self._output_name, self._output = self._create(f"{tag}_out", output_size)
            self.register()
        except Exception:
            self.close()
            raise

    @property
    def max_rows(self) -> int:
        """The most batch rows the regions hold."""
        return self._max_rows

    def _layout(self, names: list[str]) -> tuple[dict[str, int], int]:
        offsets: dict[str, int] = {}
        position = 0
        for name in names:
            offsets[name] = position
            position += self._row_bytes[name] * self._max_rows
        return offsets, position

    def _create(self, name: str, size: int) -> tuple[str, Any]:
        handle = self._shm.create_shared_memory_region(name, f"/{name}", size)
        self._regions.append((name, handle, size))
        return name, handle

    def register(self, client: Any = None) -> None:
        """Tell the server (again, e.g. after it restarted) where the regions are.

        RegionsInUseError when the server still holds them for an unfinished request.
        """
        if client is not None:
            self._client = client
        for name, _, size in self._regions:
            with contextlib.suppress(Exception):  # not registered (a fresh server), or in use
                self._client.unregister_system_shared_memory(name)
            try:
                self._client.register_system_shared_memory(name, f"/{name}", size)
            except Exception as error:
                if _already_registered(error):
                    raise RegionsInUseError(
                        f"the server still uses shared memory region {name!r}"
                    ) from None
                raise

    def request(self, feeds: Mapping[str, Tensor], infer_input: Any, requested_output: Any) -> Any:
        """Write ``feeds`` into the input region; InferInputs and InferRequestedOutputs for them."""
        rows = len(next(iter(feeds.values())))
        inputs = []
        for name, array in feeds.items():
            self._shm.set_shared_memory_region(
                self._input, [array], offset=self._input_offsets[name]
            )
            tensor = infer_input(name, list(array.shape), "FP32")
            tensor.set_shared_memory(self._input_name, array.nbytes, self._input_offsets[name])
            inputs.append(tensor)
        outputs = []
        for name, offset in self._output_offsets.items():
            wanted = requested_output(name)
            wanted.set_shared_memory(self._output_name, self._row_bytes[name] * rows, offset)
            outputs.append(wanted)
        return inputs, outputs

    def answer(self, output_shapes: Mapping[str, Sequence[int]], rows: int) -> dict[str, Tensor]:
        """Copy the outputs of the last request out of the output region."""
        return {
            name: np.array(
                self._shm.get_contents_as_numpy(
                    self._output, np.float32, [rows, *shape], self._output_offsets[name]
                ),
                dtype=np.float32,
            )
            for name, shape in output_shapes.items()
        }

    def close(self, client: Any = None) -> None:
        """Unregister (best effort: the server may be gone) and free both regions; ``client``:
        talk to the server through this one (the engine's channel may be closed)."""
        if client is not None:
            self._client = client
        for name, _, _ in self._regions:
            with contextlib.suppress(Exception):  # the server is gone: nothing to unregister
                self._client.unregister_system_shared_memory(name)
        self._finalizer()


def _destroy(shm: Any, regions: list[tuple[str, Any, int]]) -> None:
    """Unmap and unlink every region (once: the list is emptied)."""
    while regions:
        _, handle, _ = regions.pop()
        with contextlib.suppress(Exception):
            shm.destroy_shared_memory_region(handle)


def open_shared_memory(
    client: Any,
    input_shapes: Mapping[str, list[int]],
    output_shapes: Mapping[str, list[int]],
    max_batch_size: int,
    url: str,
    log: Callable[[str], None],
) -> SharedMemoryIO | None:
    """Regions registered with the local server, or None (with a log line) to use gRPC."""
    dims = [d for shapes in (input_shapes, output_shapes) for s in shapes.values() for d in s]
    if any(d <= 0 for d in dims):
        log("triton: shared memory needs fixed tensor sizes; sending tensors over gRPC")
        return None
    try:
        return SharedMemoryIO(client, input_shapes, output_shapes, max_batch_size)
    except Exception as error:  # no /dev/shm, or a server that cannot map it (a container)
        log(
            f"triton: system shared memory not usable with {url} "
            f"({reason(error)}); sending tensors over gRPC"
        )
        return None
