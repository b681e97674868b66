"""uvicorn's HTTP protocol with a header timeout: a client that trickles its headers is cut off.

uvicorn times out an idle keep-alive connection after a response, but not a connection that
opens and then sends its request line and headers a byte at a time (or nothing at all): each such
client holds a connection, and its memory, for as long as it likes. Here a timer starts when the
connection opens and when a request begins, and stops when the request's headers are complete;
if it fires first, the connection is closed. The body's own pace is bounded by the request's time
limit (``TimeLimit``), which starts once the headers are in.

Two more bounds uvicorn lacks: the request line and headers may hold at most
``max_header_bytes`` (past it: 431 and the connection closed, where httptools would buffer
without end), and a connection answered before its request body has all arrived (a 413, a 405)
is closed once the answer is sent, instead of reading the rest of a body nobody will use.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` closing connections whose headers are late or too large, and
    connections answered before their request body arrived."""

    header_timeout_s = 10.0
    max_header_bytes = 65_536
    _header_timer: asyncio.TimerHandle | None = None
    _in_headers = True  # the bytes arriving now belong to a request line and headers
    _header_bytes = 0
    _tail = b""  # the last bytes of the headers seen, to find their end across chunks
    timed_out = 0  # connections closed by the timer, over the process (read by tests)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_headers()
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            self._header_bytes += len(data) if end < 0 else max(0, end + 4 - len(self._tail))
            self._tail = seen[-3:]
            if self._header_bytes > self.max_header_bytes:
                self._refuse_headers()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._start_headers()  # what follows on this connection is the next request

    def on_response_complete(self) -> None:
        cycle = self.cycle
        # The request just answered is the latest one parsed when its response completes while
        # its body is still coming (a pipelined request after it would be the latest instead).
        unread = cycle is not None and cycle.response_complete and cycle.more_body
        super().on_response_complete()  # arms uvicorn's keep-alive timer for the idle wait
        if unread and not self.transport.is_closing():
            self.transport.close()  # answered before its body arrived: nobody reads the rest

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _start_headers(self) -> None:
        self._in_headers, self._header_bytes, self._tail = True, 0, b""

    def _refuse_headers(self) -> None:
        self._disarm()
        body = (b'{"errors":[{"message":"the request line and headers are over '
                + str(self.max_header_bytes).encode()
                + b' bytes (MIKO_API_MAX_HEADER_BYTES)","extensions":{"code":'
                b'"HEADERS_TOO_LARGE"}}]}')
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json"
            b"\r\nconnection: close\r\ncontent-length: " + str(len(body)).encode()
            + b"\r\n\r\n" + body)
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            HeaderTimeoutProtocol.timed_out += 1
            self.transport.close()


def header_timeout_protocol(seconds: float,
                            max_header_bytes: int = 65_536) -> type[HeaderTimeoutProtocol]:
    """The protocol class for uvicorn's ``http`` setting, with these bounds."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,),
                {"header_timeout_s": seconds, "max_header_bytes": max_header_bytes})
