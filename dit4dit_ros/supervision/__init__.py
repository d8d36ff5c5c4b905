"""ROS-free supervision of the graph's node processes: lifelines between `dit4dit run` and each node, the
health of each child, and what the supervisor does when one dies or hangs (by node role and configuration).
"""
