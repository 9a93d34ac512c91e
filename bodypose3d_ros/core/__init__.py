"""Pure-Python core: no ROS imports, unit-tested on NumPy arrays."""
