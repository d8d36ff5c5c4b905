"""The executor's authority policy (security/authority.py), without ROS: token file, policies, refusals."""
from __future__ import annotations

import os
import stat

import pytest

from dit4dit_ros.security.authority import TOKEN_FILE_ENV, Authority, default_token_file, read_token


def test_token_policy_writes_a_private_fresh_token_and_checks_it(tmp_path):
    path = tmp_path / "run" / "executor.token"
    a = Authority("token", path)
    token = read_token(path)
    assert len(token) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert a.check_token("enable", token) and a.check_token("enable", token + "\n")
    verdict = a.check_token("enable", token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not verdict and "wrong token" in verdict.reason
    verdict = a.check_plain("reset_estop")
    assert not verdict and "reset_estop needs authority (policy token)" in verdict.reason and str(path) in verdict.reason
    assert a.refused == 2 and not a.remote_may_enable
    b = Authority("token", path)  # a restart: a new token, the old one is worthless
    assert read_token(path) != token and not b.check_token("enable", token)
    a.close()
    assert path.exists()  # not a's token any more: a leaves it alone
    b.close()
    assert not path.exists()


@pytest.mark.parametrize("policy, plain, remote", [("open", True, True), ("remote", False, True),
                                                   ("token_or_remote", False, True), ("token", False, False)])
def test_policies(tmp_path, policy, plain, remote):
    a = Authority(policy, tmp_path / "t", {"enable": "A+R2"})
    assert bool(a.check_plain("enable")) is plain and a.remote_may_enable is remote
    if policy == "remote":
        verdict = a.check_token("enable", "anything")
        assert not verdict and "press A+R2 on the robot's wireless remote" in verdict.reason
        assert not (tmp_path / "t").exists()  # no token policy: no token file


def test_errors_name_the_input(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"authority must be one of \['open', 'token', 'remote', 'token_or_remote'\]"):
        Authority("anyone")
    with pytest.raises(ValueError, match="cannot read the executor's token file .*nope"):
        read_token(tmp_path / "nope")
    monkeypatch.setenv(TOKEN_FILE_ENV, str(tmp_path / "x.token"))
    assert default_token_file() == tmp_path / "x.token"
    monkeypatch.delenv(TOKEN_FILE_ENV)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert default_token_file() == tmp_path / f"dit4dit-{os.getuid()}" / "executor.token"
