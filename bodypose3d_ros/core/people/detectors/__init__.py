"""Person detectors: implementations of :class:`~.detection.PersonDetector`."""
