"""Closed-loop evaluation of a policy checkpoint on seeded simulator episodes, in one place.

- results.py: the success rule (SuccessHold), per-episode and per-run results, the Wilson interval;
- direct.py: in-process rollouts (simulator + engine + executor core, no ROS);
- graph.py: the same rollouts through the real ROS graph (`dit4dit run`);
- episode.py: what a runner tells its observers at each step; observers.py: the video as an observer;
- video.py: rollout videos (third-person view beside the ego view, with overlays);
- report.py: the HTML report; recording.py: the Rerun recording of every episode;
- commands.py: `dit4dit eval` and `dit4dit demo`.

This package sits above bringup/ (the graph runner starts `dit4dit run`); nothing below it imports it.
"""
