"""Stage 3, the people: the detector protocol and detectors, the tracker, per-person state."""
