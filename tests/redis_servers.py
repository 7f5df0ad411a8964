"""Real Redis servers for tests, and real faults: a server of the test's own (stopped, killed, frozen by PID), a
Sentinel group (a primary, a replica and three sentinels) that can fail over, and a TCP proxy that can delay,
swallow or cut the traffic to a server.

Every process is Debian's ``redis-server`` started here on a free loopback port and ended here by its PID: the
machine's own Redis on 6379 is never touched. When ``redis-server`` is missing, starting fails (no skip).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

Mode = Literal["pass", "delay", "blackhole", "cut"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def redis_binary() -> str:
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """One inline command to a server on a loopback port; its raw RESP reply (read until the socket is quiet
    for a moment after the first bytes). Enough for PING, INFO and SENTINEL, with no client library between."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b" ".join(a.encode() for a in args) + b"\r\n")
        reply = s.recv(65536)
        s.settimeout(0.05)
        with contextlib.suppress(TimeoutError):
            while chunk := s.recv(65536):
                reply += chunk
        return reply


class RedisServer:
    """A Redis server of the test's own on a free port, which the test may stop and start again, kill, freeze
    and thaw (all by PID). ``args`` are extra ``redis-server`` options (e.g. ``["--replicaof", "127.0.0.1",
    "6400"]``). Its working directory is a fresh temporary one, removed by :meth:`stop`."""

    def __init__(self, args: Sequence[str] = (), port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = redis_binary()
        self.dir: Path | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def command_line(self) -> list[str]:
        assert self.dir is not None
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), *self.args]

    def start(self, timeout: float = 10) -> None:
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"authz-redis-{self.port}-"))
        self.proc = subprocess.Popen(self.command_line(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self._end(signal.SIGKILL)
        raise TimeoutError(f"redis-server on port {self.port} did not start")

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} is not running")
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL: the server dies at once, as in a crash (connections reset, nothing saved)."""
        self._signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def freeze(self) -> None:
        """SIGSTOP: the server stays, its connections stay open, and nothing answers (a hung host)."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: a frozen server goes on where it stopped."""
        self._signal(signal.SIGCONT)

    def _end(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a frozen process would hold SIGTERM until thawed
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, should it be frozen), then SIGKILL if it lingers; removes its directory."""
        self._end(signal.SIGTERM)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SentinelServer(RedisServer):
    """``redis-server <conf> --sentinel``, monitoring ``name`` at ``primary_port``; the sentinel rewrites its
    configuration file (in its own directory) as it learns."""

    def __init__(self, name: str, primary_port: int, quorum: int, down_after_ms: int, failover_timeout_ms: int
                 ) -> None:
        super().__init__()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.config = (f"port {self.port}\nbind 127.0.0.1\ndaemonize no\n"
                       "sentinel resolve-hostnames no\nsentinel announce-hostnames no\n"
                       f"sentinel monitor {name} 127.0.0.1 {primary_port} {quorum}\n"
                       f"sentinel down-after-milliseconds {name} {down_after_ms}\n"
                       f"sentinel failover-timeout {name} {failover_timeout_ms}\n"
                       f"sentinel parallel-syncs {name} 1\n")

    def command_line(self) -> list[str]:
        assert self.dir is not None
        conf = self.dir / "sentinel.conf"
        if not conf.exists():
            conf.write_text(f"dir {self.dir}\n" + self.config)
        return [self.binary, str(conf), "--sentinel"]


class SentinelGroup:
    """A real primary, one replica (``--replicaof``) and three sentinels (quorum 2) on free loopback ports.

    :meth:`start` returns once the sentinels know the replica and each other, so that :meth:`failover` can
    happen; ``url`` is the ``redis+sentinel://`` address of the group for ``AUTHZ_REDIS_URL``."""

    def __init__(self, name: str = "authz-test", down_after_ms: int = 1000, failover_timeout_ms: int = 3000,
                 sentinels: int = 3) -> None:
        self.name = name
        self.primary = RedisServer(["--repl-diskless-sync-delay", "0"])
        self.replica = RedisServer(["--replicaof", "127.0.0.1", str(self.primary.port), "--repl-diskless-sync-delay",
                                    "0"])
        self.sentinels = [SentinelServer(name, self.primary.port, 2, down_after_ms, failover_timeout_ms)
                          for _ in range(sentinels)]
        self.old_primaries: list[RedisServer] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.name}"

    def _sentinel(self, *args: str) -> bytes:
        """The reply of the first sentinel that answers."""
        error: OSError | None = None
        for s in self.sentinels:
            if s.proc is None or s.proc.poll() is not None:
                continue
            try:
                return command(s.port, "SENTINEL", *args)
            except OSError as exc:
                error = exc
        raise ConnectionError(f"no sentinel answers: {error}")

    def master_port(self) -> int | None:
        """The primary's port as the sentinels report it (``SENTINEL get-master-addr-by-name``)."""
        reply = self._sentinel("get-master-addr-by-name", self.name)
        lines = reply.split(b"\r\n")
        # *2 $9 127.0.0.1 $4 6400
        return int(lines[4]) if reply.startswith(b"*2") and len(lines) > 4 else None

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if ready():
                    return
            time.sleep(0.05)
        raise TimeoutError(f"Sentinel group {self.name}: {what} within {timeout} s")

    def start(self, timeout: float = 20) -> None:
        try:
            self.primary.start()
            self.replica.start()
            self._wait("the replica in sync", lambda: b"master_link_status:up" in command(self.replica.port, "INFO",
                                                                                          "replication"), timeout)
            for s in self.sentinels:
                s.start()
            others = len(self.sentinels) - 1

            def known() -> bool:
                for s in self.sentinels:
                    master = command(s.port, "SENTINEL", "master", self.name)
                    fields = master.split(b"\r\n")[2::2]
                    info = dict(zip(fields[::2], fields[1::2], strict=False))
                    if int(info.get(b"num-slaves", b"0")) < 1 or int(info.get(b"num-other-sentinels", b"0")) < others:
                        return False
                return True

            self._wait("the sentinels knowing the replica and each other", known, timeout)
        except BaseException:
            self.stop()
            raise

    def wait_replicated(self, timeout: float = 5) -> None:
        """Until the replica has every write the primary acknowledged (``WAIT 1``)."""
        reply = command(self.primary.port, "WAIT", "1", str(int(timeout * 1000)), timeout=timeout + 1)
        if not reply.startswith(b":1"):
            raise TimeoutError(f"the replica did not catch up: {reply!r}")

    def failover(self, timeout: float = 20) -> RedisServer:
        """Kill the primary (SIGKILL, after the replica has caught up) and wait until the sentinels report the
        replica as the new master; returns it (now ``self.primary``; the old one is in ``old_primaries``)."""
        self.wait_replicated()
        old, new = self.primary, self.replica
        old.kill()
        self._wait("the replica promoted", lambda: self.master_port() == new.port, timeout)
        self._wait("the new primary taking writes",
                   lambda: b"role:master" in command(new.port, "INFO", "replication"), timeout)
        self.old_primaries.append(old)
        self.primary = new
        self.replica = old
        return new

    def stop(self) -> None:
        """Stop every process by PID and remove their directories."""
        for server in [*self.sentinels, self.primary, self.replica, *self.old_primaries]:
            server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FaultProxy:
    """A TCP proxy on a free loopback port in front of a server, run on an asyncio loop in a thread of its own.

    Modes, switched at run time (each call returns once the mode is in force):

    - :meth:`pass_through` — forward both ways (the start mode);
    - :meth:`delay` — forward, each chunk ``seconds`` late (in order);
    - :meth:`blackhole` — connections (old and new) stay open and nothing is forwarded either way; what was sent
      is held, and forwarded when the mode changes back, as TCP would after a partition heals;
    - :meth:`cut` — every connection is closed and new ones are refused (the port stops listening).

    ``url`` is ``redis://127.0.0.1:<port>/0``; :meth:`stop` closes everything and ends the thread.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._mode: Mode = "pass"
        self._delay = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fault-proxy-{target_port}",
                                        daemon=True)
        self._server: asyncio.Server | None = None
        self._changed: asyncio.Event | None = None
        self._handlers: set[asyncio.Task[object]] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self._closing = False
        self.connections = 0  # accepted so far

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def mode(self) -> Mode:
        return self._mode

    def _call(self, coro: object, timeout: float = 10) -> None:
        assert asyncio.iscoroutine(coro)
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def pass_through(self) -> None:
        self._call(self._set("pass", 0.0))

    def delay(self, seconds: float) -> None:
        self._call(self._set("delay", seconds))

    def blackhole(self) -> None:
        self._call(self._set("blackhole", 0.0))

    def cut(self) -> None:
        self._call(self._set("cut", 0.0))

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
                 ) -> None:
        self.stop()

    # On the proxy's loop only, from here.

    async def _listen(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        if self._server is None:
            self._closing = False
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
            self.port = self._server.sockets[0].getsockname()[1]

    async def _set(self, mode: Mode, delay: float) -> None:
        self._mode, self._delay = mode, delay
        assert self._changed is not None
        self._changed.set()  # wake the pipes held by a blackhole
        self._changed = asyncio.Event()
        if mode == "cut":
            await self._close_all()
        else:
            await self._listen()

    async def _close_all(self) -> None:
        self._closing = True  # a handler still connecting upstream starts no pipe after this (till it listens again)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        # Ending the pipes ends their handlers, which close both sockets and return (a handler cancelled itself
        # would make asyncio's stream callback log the cancellation as an error).
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _accept(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        """One client connection: its upstream connection and a pipe each way, until either side closes or
        :meth:`_close_all` cancels it; both sockets are closed on the way out."""
        self.connections += 1
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        upstream: asyncio.StreamWriter | None = None
        try:
            if self._mode == "cut":  # accepted just before the listener closed
                return
            try:
                upstream_reader, upstream = await asyncio.open_connection(*self.target)
            except OSError:
                return
            if self._closing:
                return
            pipes = [asyncio.create_task(self._pipe(client_reader, upstream)),
                     asyncio.create_task(self._pipe(upstream_reader, client))]
            self._pipes.update(pipes)
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
                self._pipes.difference_update(pipes)
        finally:
            self._handlers.discard(handler)
            for writer in (client, upstream):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                while self._mode == "blackhole":
                    assert self._changed is not None
                    await self._changed.wait()
                if self._mode == "cut":
                    return
                if self._mode == "delay" and self._delay > 0:
                    await asyncio.sleep(self._delay)
                writer.write(data)
                await writer.drain()
