"""SROS2: the generated keystore is complete and its permissions say who may publish chunks and arm the robot;
and asking the PyPI FastDDS build for security fails closed (it has no security plugins)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cryptography import x509

from dit4dit_ros.security.keystore import create_keystore
from dit4dit_ros.security.policy import GRAPH_POLICY, dds_service_topics, dds_topic


@pytest.fixture(scope="module")
def keystore(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("keystore")
    create_keystore(root)
    return root


def _allowed(keystore: Path, enclave: str) -> tuple[set[str], set[str]]:
    root = ET.parse(keystore / "enclaves" / "dit4dit" / enclave / "permissions.xml").getroot()
    rule = root.find("permissions/grant/allow_rule")
    return ({t.text for t in rule.findall("publish/topics/topic")}, {t.text for t in rule.findall("subscribe/topics/topic")})


def test_keystore_has_every_enclave_with_a_certificate_from_its_ca(keystore):
    ca = x509.load_pem_x509_certificate((keystore / "public" / "identity_ca.cert.pem").read_bytes())
    for policy in GRAPH_POLICY:
        directory = keystore / "enclaves" / policy.enclave.lstrip("/")
        names = {p.name for p in directory.iterdir()}
        assert names == {"cert.pem", "key.pem", "identity_ca.cert.pem", "permissions_ca.cert.pem", "governance.p7s",
                         "permissions.xml", "permissions.p7s"}, names
        cert = x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())
        assert cert.subject.rfc4514_string() == f"CN={policy.enclave}"
        cert.verify_directly_issued_by(ca)  # raises if not signed by the keystore's CA
        assert oct((directory / "key.pem").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(FileExistsError, match="already holds a keystore"):
        create_keystore(keystore)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed: S/MIME signatures unchecked")
def test_governance_and_permissions_are_signed_by_the_permissions_ca(keystore):
    ca = keystore / "public" / "permissions_ca.cert.pem"
    for signed in [keystore / "enclaves" / "governance.p7s",
                   *(keystore / "enclaves" / p.enclave.lstrip("/") / "permissions.p7s" for p in GRAPH_POLICY)]:
        done = subprocess.run(["openssl", "smime", "-verify", "-in", str(signed), "-CAfile", str(ca)],
                              capture_output=True, text=True)
        assert done.returncode == 0 and "Verification successful" in done.stderr, (signed, done.stderr)
    tampered = keystore / "tampered.p7s"
    tampered.write_text((keystore / "enclaves/dit4dit/policy/permissions.p7s").read_text().replace(
        "<default>DENY</default>", "<default>ALLOW</default>"))
    done = subprocess.run(["openssl", "smime", "-verify", "-in", str(tampered), "-CAfile", str(ca)], capture_output=True)
    assert done.returncode != 0


def test_only_the_policy_and_teleop_publish_commands_and_only_the_operator_and_supervisor_arm(keystore):
    chunk, teleop = dds_topic("/dit4dit/action_chunk"), dds_topic("/dit4dit/teleop/joint_command")
    enable, reset = dds_service_topics("/executor/enable")[0], dds_service_topics("/executor/reset_estop")[0]
    estop_call, estop_topic = dds_service_topics("/executor/estop")[0], dds_topic("/dit4dit/estop")
    for policy in GRAPH_POLICY:
        publish, subscribe = _allowed(keystore, policy.name)
        assert (chunk in publish) == (policy.name == "policy"), policy.name
        assert (teleop in publish) == (policy.name == "teleop"), policy.name
        assert (enable in publish) == (reset in publish) == (policy.name in ("operator", "supervisor")), policy.name
        assert estop_call in publish and estop_topic in publish, policy.name  # the e-stop stays open to every enclave
    publish, subscribe = _allowed(keystore, "executor")
    assert enable in subscribe and dds_service_topics("/executor/enable")[1] in publish  # it serves them
    assert chunk in subscribe and estop_topic in subscribe


def test_asking_the_pypi_fastdds_for_security_fails_closed(keystore):
    """The PyPI FastDDS (ros-fastdds 3.2.x) is built without -DSECURITY=ON: with a keystore and security enabled,
    a node does not start (in Enforce and in Permissive mode) instead of running unsecured."""
    code = ("import rclpy\nrclpy.init(args=['--ros-args', '--enclave', '/dit4dit/policy'])\n"
            "rclpy.create_node('secured_probe')\nprint('STARTED')\n")
    for strategy in ("Enforce", "Permissive"):
        env = dict(os.environ, ROS_SECURITY_KEYSTORE=str(keystore), ROS_SECURITY_ENABLE="true",
                   ROS_SECURITY_STRATEGY=strategy)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
        out = done.stdout + done.stderr
        assert "Found security directory" in out and str(keystore / "enclaves/dit4dit/policy") in out  # rcl found it
        assert "STARTED" not in out and done.returncode != 0, out
        assert "doesn't have the security libraries" in out, out
