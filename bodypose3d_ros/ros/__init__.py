"""The thin ROS layer: message conversions, RViz markers, diagnostics, node parameters.

The logic these modules wrap lives in ``bodypose3d_ros.core``, which never imports ROS.
"""
