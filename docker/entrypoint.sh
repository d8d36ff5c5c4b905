#!/bin/bash
# Entry point of both images: ROS, the colcon install of dit4dit_ros, and (with ROLE and PEER set) the
# split-host environment of config/split_host_env.sh. Then the command (default: `dit4dit info`).
set -eo pipefail
source "/opt/ros/${ROS_DISTRO}/setup.bash"
source /ws/install/setup.bash
if [ -n "${ROLE:-}" ]; then
  source /ws/install/dit4dit_ros/share/dit4dit_ros/config/split_host_env.sh
fi
if [ -n "${DIT4DIT_EXTRA_LD_LIBRARY_PATH:-}" ]; then
  export LD_LIBRARY_PATH="${DIT4DIT_EXTRA_LD_LIBRARY_PATH}:${LD_LIBRARY_PATH:-}"  # CycloneDDS 11 before ROS's own
fi
exec "$@"
