"""How the simulator's HTTP server reads a request's head: uvicorn's httptools protocol with limits on the head.

uvicorn (on httptools) accepts a request head of any size and any number of header fields, held in memory until
the head ends: one request with a 32 MB header, or 10,000 headers, was read whole and answered. This protocol
answers 431 Request Header Fields Too Large, and closes the connection, once the request line and header fields
pass ``MAX_HEAD_BYTES`` or the fields pass ``MAX_HEADER_FIELDS`` (docs/security.md), before reading further.
"""
from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# The request line and header fields together: Cloudflare's and nginx's default total (4 buffers of 8 KB), twice
# Node's 16 KB, a quarter of what Go allows.
MAX_HEAD_BYTES = 32 * 1024
# Header fields per request: Apache's LimitRequestFields default.
MAX_HEADER_FIELDS = 100


class _TooManyHeaderFields(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, counting the bytes of each request's head before the parser sees them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # uvicorn's own arguments, passed on as they come
        super().__init__(*args, **kwargs)
        # Bytes of the current request's head fed to the parser so far; None while its body is read.
        self._head_bytes: int | None = 0
        self._head_ended = False
        self._fields = 0
        self._refused: str | None = None

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None:
            room = MAX_HEAD_BYTES - self._head_bytes
            if len(data) > room:
                # Feed only what the head may still take: if it has not ended by then, it is too large. What
                # follows the head in the same read (a body, the next request) is fed on as usual.
                self._head_ended = False
                if room > 0:
                    super().data_received(data[:room])
                if self.transport.is_closing():
                    return
                if not self._head_ended:
                    self._refuse(f"the request line and header fields exceed {MAX_HEAD_BYTES} bytes")
                    return
                data = data[room:]
            else:
                self._head_bytes += len(data)
        if data:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._fields = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > MAX_HEADER_FIELDS:
            self._refused = f"more than {MAX_HEADER_FIELDS} header fields"
            raise _TooManyHeaderFields  # httptools stops parsing; uvicorn answers through send_400_response
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._head_ended = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_bytes = 0  # the next request's head starts here

    def send_400_response(self, msg: str) -> None:
        if self._refused is not None:
            self._refuse(self._refused)
            return
        super().send_400_response(msg)

    def _refuse(self, reason: str) -> None:
        message = f"431 Request Header Fields Too Large: {reason}".encode()
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: text/plain; charset=utf-8\r\n", b"content-length: %d\r\n" % len(message),
                 b"connection: close\r\n", b"\r\n", message]
        self.transport.write(b"".join(head))
        self.transport.close()
