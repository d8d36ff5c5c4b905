"""`dit4dit run --enable` with the executor's authority policy `token` (issue 19.3): the supervisor, run by the
operator, reads the executor's token file and enables through ~/enable_with_token (tracking commands reach the
simulated robot); a peer on the ROS domain without the token cannot reset the e-stop it may always latch."""
from __future__ import annotations

from pathlib import Path

import pytest
from std_srvs.srv import Trigger

from dit4dit_ros.bringup.profiles import write_parameter_yaml
from dit4dit_ros.bringup.trial_graph import TrialGraph, trial_parameters
from dit4dit_ros.nodes.probe import RosHarness
from dit4dit_ros.utils.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.ros, pytest.mark.sim]


def test_dit4dit_run_enables_with_the_token_and_a_peer_cannot_reset(repo_root, tmp_path):
    token_file = tmp_path / "run" / "executor.token"
    data = trial_parameters(Path(repo_root, "config", "g1_sim.yaml"), drop=("policy",),
                            executor={"authority": "token", "authority_token_file": str(token_file)})
    graph = TrialGraph(write_parameter_yaml(data, tmp_path / "params.yaml"), tmp_path / "logs").start()
    try:
        wait_until(lambda: graph.wire.summary().tracking > 200, 60, poll=0.1, what="tracking commands")
        assert "executor enabled" in graph.output()
        with RosHarness() as ros:
            def call(name: str) -> Trigger.Response:
                client = ros.probe.create_client(Trigger, name)
                assert client.wait_for_service(timeout_sec=20.0), name
                future = client.call_async(Trigger.Request())
                wait_until(future.done, 10.0, what=f"a reply from {name}")
                return future.result()

            assert call("/executor/estop").success
            reply = call("/executor/reset_estop")
            assert not reply.success and "reset_estop needs authority (policy token)" in reply.message
            assert not call("/executor/enable").success
        n = graph.wire.count()
        wait_until(lambda: graph.wire.count() > n + 200, 30, poll=0.1, what="damping commands")
        summary = graph.wire.summary()
        assert graph.wire.tracking_after_damping(0.0) == 0 and summary.unsafe == 0, summary
    finally:
        graph.close()
