"""Stage 5, the lift: 2.5D keypoints to metric 3D, consistent bone lengths, temporal smoothing."""
