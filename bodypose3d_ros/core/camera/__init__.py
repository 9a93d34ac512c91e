"""Stage 1, the camera: intrinsics (CameraInfo, calibration file), bounds, distortion."""
