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


def test_a_sender_hanging_up_mid_request_prints_no_traceback(capsys):
    # The simulator cancels deliveries in flight on a full reset; the receiver must not report that as its error.
    with WebhookReceiver() as receiver:
        client = socket.create_connection(("127.0.0.1", receiver.port))
        client.sendall(b"POST /hook HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\npartial")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        client.close()
        # A full request afterwards is answered: the reset one is behind it.
        with socket.create_connection(("127.0.0.1", receiver.port)) as ok:
            ok.sendall(b"POST /after HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            assert ok.recv(100).startswith(b"HTTP/1.")
    assert "Traceback" not in capsys.readouterr().err
