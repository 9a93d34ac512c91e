"""Benchmarks: what the node costs beyond the model, and how it holds a camera's rate.

Run with ``make bench`` (``python -m bench.run``); see :mod:`bench.run` for the flags.
"""
