"""Pose models: adapters from an inference engine to 2.5D keypoints in image pixels."""
