"""bodypose3d_ros: 3D human skeletons for ROS 2 from NVIDIA BodyPose3DNet or BlazePose GHUM 3D.

The generated message module ``bodypose3d_ros.msg`` is installed next to this package on a real
install. In a development tree the sources shadow that install, so the package path is extended to
every ``bodypose3d_ros`` folder on ``sys.path``; on a real install this is a no-op.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
