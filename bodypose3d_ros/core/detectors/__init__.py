"""Person detectors (:class:`~bodypose3d_ros.core.detection.PersonDetector` implementations)."""
