"""Inference engines behind one interface: ONNX Runtime (everywhere) and TensorRT (NVIDIA GPUs).

Import from the submodules (``base``, ``factory``, ...); this package imports nothing itself, so
loading ``base`` for :class:`~bodypose3d_ros.core.engines.base.ModelLoadError` stays cheap.
"""
