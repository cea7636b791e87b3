"""The `clientbot` command line in a process of its own, on the calling test's clock.

`cli_argv(*args)` and `cli_env()` build the call; the child travels to the instant the parent test is at
(time-machine does not cross process boundaries), so CLI tests depend on no wall clock either.

Importing the app costs a new interpreter ~1.2 s of CPU, most of the CPU of a short command and a sixth of
the suite's: the suite keeps a zygote (`--zygote`, started by conftest) that has imported it once, and a
command is run in a fork of it, on the caller's standard streams, environment, directory and clock, its
exit status passed back (the multiprocessing "forkserver" pattern). Without a zygote, or for `serve` (a
process the tests signal and whose workers they count), the command runs here."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
from datetime import UTC, datetime

CLOCK_VARIABLE = "CLIENTBOT_TEST_CLOCK"
ZYGOTE_VARIABLE = "TESTS_CLI_ZYGOTE"  # not CLIENTBOT_*: tests drop those from a command's environment
_LENGTH = struct.Struct("!I")


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.clientbot_at", *args]


def cli_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`base` (default: this process's environment) plus the current test instant, plus `extra`."""
    env = dict(os.environ if base is None else base)
    env.setdefault("PYTHONPATH", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return env | {CLOCK_VARIABLE: datetime.now(UTC).isoformat()} | extra


def _run(argv: list[str]) -> int:
    import time_machine

    from bot.cli import main

    with time_machine.travel(datetime.fromisoformat(os.environ[CLOCK_VARIABLE]), tick=True):
        return main(argv)


def _via_zygote(path: str, argv: list[str]) -> int | None:
    """`argv` run in a fork of the zygote at `path`, its exit status; None if no zygote answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
        try:
            channel.connect(path)
        except OSError:
            return None
        request = json.dumps({"argv": argv, "env": dict(os.environ), "cwd": os.getcwd()}).encode()
        socket.send_fds(channel, [_LENGTH.pack(len(request)) + request], [0, 1, 2])
        replies = channel.makefile("r")
        pid = int(replies.readline().split()[1])  # "pid N": signals sent to this process go on to it
        for forwarded in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(forwarded, lambda number, _frame: os.kill(pid, number))
        how, number = replies.readline().split()
    if how == "signal":  # die of the same signal, as the command did
        signal.signal(int(number), signal.SIG_DFL)
        os.kill(os.getpid(), int(number))
    return int(number)


def _zygote(path: str) -> list[str]:
    """Serve commands at `path` until terminated. Returns only in a forked command, with its argv."""
    import time_machine  # noqa: F401  (imported once, here)

    import bot.cli  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # each command's waiter is reaped as it ends
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path + ".new")
        listener.listen(64)
        os.rename(path + ".new", path)  # callers find it only once it listens
        while True:
            channel, _ = listener.accept()
            if os.fork() == 0:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                return _waiter(channel)
            channel.close()


def _waiter(channel: socket.socket) -> list[str]:
    """In a fork of the zygote: read the request, fork the command (which returns its argv), wait for it
    and report its end; kill it if the caller goes away (a test's timeout)."""
    data, fds, _, _ = socket.recv_fds(channel, 1 << 16, 3)
    (length,) = _LENGTH.unpack_from(data)
    while len(data) < _LENGTH.size + length:
        data += channel.recv(1 << 16)
    request = json.loads(data[_LENGTH.size :])
    pid = os.fork()
    if pid == 0:
        channel.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        import random
        import time

        time.tzset()
        random.seed()
        sys.argv = ["clientbot", *request["argv"]]
        return request["argv"]
    for fd in fds:
        os.close(fd)
    channel.sendall(f"pid {pid}\n".encode())
    while True:
        readable, _, _ = select.select([channel], [], [], 0.05)
        if readable and not channel.recv(1):
            os.kill(pid, signal.SIGKILL)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    if os.WIFSIGNALED(status):
        ending = f"signal {os.WTERMSIG(status)}\n"
    else:
        ending = f"exit {os.waitstatus_to_exitcode(status)}\n"
    try:
        channel.sendall(ending.encode())
    finally:
        os._exit(0)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--zygote"]:
        arguments = _zygote(arguments[1])
    elif arguments[:1] != ["serve"] and os.environ.get(ZYGOTE_VARIABLE):
        status = _via_zygote(os.environ[ZYGOTE_VARIABLE], arguments)
        if status is not None:
            sys.exit(status)
    sys.exit(_run(arguments))
