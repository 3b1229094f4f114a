"""The loopback WebhookReceiver the fixtures hand out: keeps up with the outbox's concurrent connections, holds
requests unanswered when asked, answers as told, and records what happened to each answer."""
from __future__ import annotations

import select
import socket
import threading

import httpx2 as httpx

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


def _post(url: str, out: list[httpx.Response]) -> threading.Thread:
    """POST in a thread (a held request blocks its sender); the answer lands in ``out``."""
    thread = threading.Thread(target=lambda: out.append(httpx.post(url, json={}, timeout=30)), daemon=True)
    thread.start()
    return thread


def test_held_requests_stay_unanswered_until_released():
    with WebhookReceiver() as receiver:
        receiver.hold()
        answers: list[httpx.Response] = []
        first = _post(receiver.url + "/first", answers)
        receiver.wait_for(1)
        second = _post(receiver.url + "/second", answers)
        receiver.wait_for(2)
        assert [r.unanswered_before for r in receiver.requests] == [0, 1]
        assert [r.answered for r in receiver.requests] == [None, None] and answers == []
        receiver.release()
        first.join(10)
        second.join(10)
        assert [a.status_code for a in answers] == [200, 200]
        assert [r.answered for r in receiver.wait_for_answers(2)] == [True, True]
        # Released: the next request is answered at once, with nothing unanswered before it.
        assert httpx.post(receiver.url + "/third", json={}, timeout=10).status_code == 200
        assert receiver.requests[2].unanswered_before == 0


def test_a_hold_never_released_lasts_max_seconds():
    with WebhookReceiver() as receiver:
        receiver.hold(max_seconds=0.3)
        assert httpx.post(receiver.url, json={}, timeout=10).status_code == 200
        request = receiver.wait_for_answers(1)[0]
        assert request.answered_at is not None and request.answered_at - request.received_at >= 0.3


def test_custom_answers_fall_back_to_the_queued_ones_then_200():
    with WebhookReceiver() as receiver:
        receiver.set_responses([503])
        receiver.respond_with(lambda request: (201, b'{"custom": true}') if request.path == "/custom" else None)
        custom = httpx.post(receiver.url + "/custom", json={}, timeout=10)
        assert (custom.status_code, custom.json()) == (201, {"custom": True})
        # The queued 503 went to the first request, which the custom answer replaced: none is left.
        assert httpx.post(receiver.url + "/queued", json={}, timeout=10).status_code == 200
        receiver.set_responses([503])
        assert httpx.post(receiver.url + "/queued", json={}, timeout=10).status_code == 503
        receiver.clear()
        assert httpx.post(receiver.url + "/custom", json={}, timeout=10).status_code == 200
        assert [r.path for r in receiver.requests] == ["/custom"]


def test_a_sender_gone_before_its_answer_is_recorded_as_not_answered(capsys):
    with WebhookReceiver() as receiver:
        receiver.hold()
        client = socket.create_connection(("127.0.0.1", receiver.port))
        client.sendall(b"POST /gone HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        receiver.wait_for(1)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        client.close()
        receiver.release()
        assert receiver.wait_for_answers(1)[0].answered is False
        assert httpx.post(receiver.url + "/after", json={}, timeout=10).status_code == 200
    assert "Traceback" not in capsys.readouterr().err
