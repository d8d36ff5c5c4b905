"""The suite's own guard against a hang inside C (pyproject.toml: faulthandler_timeout + exit).

pytest-timeout's signal method fails a test only when the main thread returns to Python; a test stuck in a C
call that never returns (a DDS entity's deletion waiting on a lock) held a whole CI run until the CI's own
limit, with no trace of where. The repository's pytest settings must turn that into a dump of every thread's
stack and a failed run. Checked here on a test that deadlocks a pthread mutex, with the repository's
configuration and only the two delays shortened.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_test_stuck_in_c_is_dumped_and_ends_the_run(tmp_path, repo_root):
    (tmp_path / "test_stuck.py").write_text(textwrap.dedent("""
        import ctypes

        def test_stuck_in_c():
            libc = ctypes.CDLL(None)
            mutex = ctypes.create_string_buffer(64)  # larger than any pthread_mutex_t
            libc.pthread_mutex_init(mutex, None)
            libc.pthread_mutex_lock(mutex)
            libc.pthread_mutex_lock(mutex)  # a default mutex locked twice: blocks forever, deaf to signals
        """))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", f"{repo_root}/pyproject.toml",
           "--rootdir", str(tmp_path), "-o", "timeout=2", "-o", "faulthandler_timeout=4", str(tmp_path / "test_stuck.py")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "Timeout (0:00:04)!" in out, out
    assert "in test_stuck_in_c" in out, out  # the stuck line's stack, not only the fact
