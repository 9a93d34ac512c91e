"""Test fixtures shipped with the package (they need the dev-only ``onnx`` package).

Nothing here is used at run time; it lets tests and benchmarks exercise the inference plumbing
without NVIDIA's (non-redistributable) model weights.
"""
