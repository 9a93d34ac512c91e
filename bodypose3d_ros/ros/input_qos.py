"""Quality of service of the node's inputs, matched to how camera drivers publish."""

from __future__ import annotations

from rclpy.qos import QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data


def image_qos(reliability: str) -> QoSProfile:
    """The sensor-data profile (keep last, small depth) with the chosen reliability.

    ``"reliable"`` only matches reliable publishers; ``"best_effort"`` (the default) matches both.
    """
    return QoSProfile(
        history=qos_profile_sensor_data.history,
        depth=qos_profile_sensor_data.depth,
        durability=qos_profile_sensor_data.durability,
        reliability=(
            QoSReliabilityPolicy.RELIABLE
            if reliability == "reliable"
            else QoSReliabilityPolicy.BEST_EFFORT
        ),
    )


def camera_info_qos() -> QoSProfile:
    """Best effort whatever the image's reliability: a best-effort subscription matches both
    kinds of publisher, and many drivers publish CameraInfo best effort."""
    return image_qos("best_effort")
