"""`make run` (bin/run) stops on Ctrl-C or TERM with status 0 and without claiming that a process died,
whether the signal comes while it migrates or once web, worker and beat are up."""

import os
import pty
import select
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="drives a pseudo-terminal")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serving(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until_serving(port: int, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not serving(port):
        assert time.monotonic() < deadline, "the web server never answered"
        time.sleep(0.3)


def run_and_stop(var_dir: Path, port: int, *, how: str, when: str | float, timeout: float = 120) -> tuple[int, str]:
    """Start bin/run on a terminal of its own; press Ctrl-C (or send TERM) once `when` is printed and the
    web server answers, or `when` seconds after the start. The exit status as a shell shows it, and
    everything printed."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "FIRELINE_BASE_URL"}}
    env.update(PORT=str(port), FIRELINE_VAR_DIR=str(var_dir))
    pid, fd = pty.fork()
    if pid == 0:  # the child: bin/run as a terminal would start it
        os.chdir(ROOT)
        os.execve(str(ROOT / "bin" / "run"), [str(ROOT / "bin" / "run")], env)  # noqa: S606 - a fixed argv
    out, sent, start = b"", False, time.monotonic()
    try:
        while time.monotonic() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
            due = when.encode() in out if isinstance(when, str) else time.monotonic() - start >= when
            if due and not sent:
                if isinstance(when, str):
                    wait_until_serving(port)
                    time.sleep(2)  # and let worker and beat get going
                if how == "ctrl-c":
                    os.write(fd, b"\x03")  # the terminal sends SIGINT to the whole foreground group
                else:
                    os.kill(pid, signal.SIGTERM)  # to the script alone, as a service manager would
                sent = True
        else:
            os.killpg(pid, signal.SIGKILL)
            pytest.fail(f"bin/run did not stop: {out.decode(errors='replace')}")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


@pytest.mark.parametrize("how", ["ctrl-c", "term"])
def test_stopping_while_it_migrates_exits_0_quietly(tmp_path, how):
    status, out = run_and_stop(tmp_path, free_port(), how=how, when=2.0)  # a fresh database takes longer than that
    assert status == 0, out
    assert "Stopped before Fireline started" in out
    assert "Traceback" not in out and "A Fireline process exited" not in out


@pytest.mark.parametrize("how", ["ctrl-c", "term"])
def test_stopping_a_running_fireline_exits_0_and_stops_everything(tmp_path, how):
    # the demo seed is not what is tested here: mark it done, with a login to print
    (tmp_path / ".demo-seeded").touch()
    (tmp_path / "demo-credentials.txt").write_text("username: commander\npassword: test-password\n")
    port = free_port()
    status, out = run_and_stop(tmp_path, port, how=how, when="Press Ctrl-C")
    assert status == 0, out
    assert "commander / test-password" in out and "Stopping Fireline..." in out
    assert "A Fireline process exited" not in out
    assert not serving(port), "the web server is still up"
