"""bodypose3d_ros: 3D human skeletons for ROS 2 from NVIDIA BodyPose3DNet or BlazePose GHUM 3D.

The generated message module ``bodypose3d_ros.msg`` is installed next to this package on a real
install. In a development tree the sources shadow that install, so the package path is extended to
every ``bodypose3d_ros`` folder on ``sys.path``; on a real install this is a no-op.

OpenCV's image decoders are capped at ``OPENCV_MAX_IMAGE_PIXELS`` (unless the environment already
sets ``OPENCV_IO_MAX_IMAGE_PIXELS``). OpenCV reads that variable once, when it loads, so it is set
here, before any module of the package imports cv2: a last guard against decompression bombs
behind the header checks in ``core.image_decode``.

Telemetry of the native runtimes (ONNX Runtime's) is switched off the same way, first of all, by
``no_telemetry``: the package contacts nothing its user did not configure.
"""

import os
from pkgutil import extend_path

from bodypose3d_ros.no_telemetry import disable_telemetry

disable_telemetry()  # before any module of the package imports onnxruntime

OPENCV_MAX_IMAGE_PIXELS = 1 << 26  # 8192 x 8192: four times the default max_image_pixels
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(OPENCV_MAX_IMAGE_PIXELS))

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
