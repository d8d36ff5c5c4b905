"""The executor's real-time process: the 500 Hz tick (LowState in, ExecutorCore, LowCmd out) in a process of
its own, without rclpy, fed by the executor node through shared memory (docs/realtime.md).

shm.py     the shared-memory block (fixed arrays, sequence-numbered slots, seqlocks)
loop.py    the tick and what runs between ticks
process.py the process's entry point (`python -m dit4dit_ros.control.rt.process`)
client.py  the node's side: start, feed, watch and stop the process
"""
