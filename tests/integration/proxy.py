"""A TCP proxy in front of PostgreSQL that a test can cut and restore: the database
"unavailable" for the portal (every open connection dropped, new ones refused) while the
server itself, which the rest of the suite shares, keeps running."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``target`` until :meth:`cut`; :meth:`restore` resumes."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, work, *args) -> None:
        thread = threading.Thread(target=work, args=args, daemon=True)
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open |= {client, upstream}
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        with self.lock:
            for sock in sockets:
                if sock in self.open:
                    self.open.discard(sock)
                    with contextlib.suppress(OSError):  # the other side went first
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()

    def cut(self) -> None:
        """Drop every connection and refuse new ones, as a stopped server would."""
        self.up = False
        self._drop(*list(self.open))

    def restore(self) -> None:
        """Accept connections again."""
        self.up = True

    def close(self) -> None:
        """Stop listening and drop everything."""
        self.cut()
        self.listener.close()
        for thread in self.threads:
            thread.join(5)
