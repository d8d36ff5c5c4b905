"""Who may enable the executor and reset its e-stop (issue 19.3), ROS-free.

Why: any process on the ROS domain (and, in the real config, any host on the robot network) could call
`/executor/enable` and `/executor/reset_estop` and re-arm the robot. Making the robot move needs authority that a
network peer does not have; making it stop (e-stop, disable) needs none.

Policies (`authority` parameter of the executor):
- `open`: anyone on the ROS domain (simulation and tests only);
- `token`: the request must carry the executor's token. The executor writes a fresh random token at start to
  `authority_token_file` (mode 0600, owned by the user running the executor): the operator on the robot computer
  (and `dit4dit run` started by them) can read it, a peer on the network cannot;
- `remote`: only the robot's wireless remote (its enable / reset_estop buttons, in LowState from the robot);
- `token_or_remote`: either of the two.
Tokens are compared in constant time (hmac.compare_digest).
"""
from __future__ import annotations

import hmac
import os
import secrets
import tempfile
from pathlib import Path

from dit4dit_ros.control.chunk import Verdict

AUTHORITY_POLICIES: tuple[str, ...] = ("open", "token", "remote", "token_or_remote")
TOKEN_FILE_ENV = "DIT4DIT_EXECUTOR_TOKEN_FILE"


def remote_may_enable(policy: str) -> bool:
    """Whether the wireless remote's enable and reset_estop are obeyed under `policy`."""
    return policy in ("open", "remote", "token_or_remote")


def default_token_file() -> Path:
    """$DIT4DIT_EXECUTOR_TOKEN_FILE, else a per-user runtime directory ($XDG_RUNTIME_DIR or the temp dir)."""
    if os.environ.get(TOKEN_FILE_ENV):
        return Path(os.environ[TOKEN_FILE_ENV])
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return base / f"dit4dit-{os.getuid()}" / "executor.token"


def write_token(path: Path) -> str:
    """A fresh random token written to `path` readable by this user only (replacing any old one)."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)  # atomic: a reader sees the old token or the new one, never half of one
    return token


def read_token(path: Path) -> str:
    """The token in `path`; a clear error when the file is missing or unreadable."""
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the executor's token file {path}: {exc.strerror} (the executor writes it "
                         f"when it starts; you must be the user running it)") from None


class Authority:
    """Decides enable / reset_estop requests under one policy (see module docstring)."""

    def __init__(self, policy: str, token_file: Path | None = None, remote_combo: dict[str, str] | None = None) -> None:
        if policy not in AUTHORITY_POLICIES:
            raise ValueError(f"authority must be one of {list(AUTHORITY_POLICIES)}, got {policy!r}")
        self.policy = policy
        self.token_file = Path(token_file) if token_file else default_token_file()
        self._remote = remote_combo or {}
        self._token = write_token(self.token_file) if self.uses_token else ""
        self.refused = 0

    @property
    def uses_token(self) -> bool:
        return self.policy in ("token", "token_or_remote")

    @property
    def remote_may_enable(self) -> bool:
        return remote_may_enable(self.policy)

    def _how(self, action: str) -> str:
        ways = []
        if self.uses_token:
            ways.append(f"call ~/{action}_with_token with the token in {self.token_file}")
        if self.remote_may_enable and action in self._remote:
            ways.append(f"press {self._remote[action]} on the robot's wireless remote")
        return " or ".join(ways) or "no way is configured"

    def check_plain(self, action: str) -> Verdict:
        """A request without a token (std_srvs/Trigger on ~/enable, ~/reset_estop)."""
        if self.policy == "open":
            return Verdict(True)
        self.refused += 1
        return Verdict(False, f"{action} needs authority (policy {self.policy}): {self._how(action)}")

    def check_token(self, action: str, token: str) -> Verdict:
        """A request carrying a token (~/enable_with_token, ~/reset_estop_with_token)."""
        if self.policy == "open":
            return Verdict(True)
        if not self.uses_token:
            self.refused += 1
            return Verdict(False, f"{action} needs authority (policy {self.policy}): {self._how(action)}")
        if not hmac.compare_digest(token.strip().encode(), self._token.encode()):
            self.refused += 1
            return Verdict(False, f"{action} refused: wrong token (the valid one is in {self.token_file} on the "
                                  f"executor's host)")
        return Verdict(True)

    def close(self) -> None:
        """Remove the token file (the next start writes a new token)."""
        if self.uses_token:
            try:
                if self.token_file.read_text().strip() == self._token:
                    self.token_file.unlink()
            except OSError:
                pass  # already gone, or replaced by another executor: not ours to remove


__all__ = ["Authority", "AUTHORITY_POLICIES", "TOKEN_FILE_ENV", "default_token_file", "read_token", "remote_may_enable",
           "write_token"]
