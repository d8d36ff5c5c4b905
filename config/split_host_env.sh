# Environment of one host of a split-host graph (docs/split_host.md). Source it on both hosts:
#   ROLE=robot PEER=192.168.123.222 . config/split_host_env.sh        # on the robot's computer
#   ROLE=policy PEER=192.168.123.164 . config/split_host_env.sh       # on the GPU workstation
# PEER is the other host's address on the robot network. ROS_DOMAIN_ID must be the same on both hosts and must
# not be the Unitree domain (0 on a G1): `dit4dit run` refuses a clash.
_here="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-17}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET
export ROS_STATIC_PEERS="${PEER:?set PEER to the address of the other host on the robot network}"
export FASTDDS_DEFAULT_PROFILES_FILE="$_here/fastdds_split_host.xml"
case "${ROLE:?set ROLE=robot or ROLE=policy}" in
  robot)  export DIT4DIT_UNITREE_DOMAIN=0 ;;    # the G1's own DDS domain; only this host joins it
  policy) ;;
  *) echo "ROLE must be robot or policy, got '$ROLE'" >&2; return 2 2>/dev/null || exit 2 ;;
esac
unset _here
