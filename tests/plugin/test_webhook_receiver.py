"""The loopback WebhookReceiver the fixtures hand out keeps up with the outbox's concurrent connections."""
from __future__ import annotations

import select
import socket

from simulator.testing import WebhookReceiver


def test_receiver_completes_every_handshake_of_a_burst_before_accepting_any():
    # Not started: nothing accepts, so only the listen backlog holds the connections. socketserver's default of 5
    # dropped the rest of a burst (the outbox opens up to 32 at once), and the kernel retried each SYN 1 s later.
    receiver = WebhookReceiver()
    clients = []
    try:
        for _ in range(32):
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", receiver.port))
            clients.append(client)
        connected = set()
        pending = list(clients)
        while pending:
            # Loopback handshakes take microseconds; a dropped SYN is not retried for a second.
            _, writable, _ = select.select([], pending, [], 0.5)
            if not writable:
                break
            for client in writable:
                if client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    connected.add(client)
                pending.remove(client)
        assert len(connected) == 32, f"{len(connected)} of 32 connections completed"
    finally:
        for client in clients:
            client.close()
        receiver._server.server_close()  # noqa: SLF001 - never started, so no stop()
