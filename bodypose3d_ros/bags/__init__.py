"""Recorded bags in and out of the offline CLI (``rosbags``; never imported by the node).

``input_bag`` opens a bag and picks its topics, ``bag_frames`` turns its images into frames by
the node's rules, ``output_bag`` writes the results as a rosbag2 (MCAP) and ``bag_run`` ties them
to the pipeline for ``bodypose3d_ros.infer``.
"""
