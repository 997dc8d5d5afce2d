"""uvicorn's h11 protocol with one addition: a deadline for each request's headers.

uvicorn closes a kept-alive connection that stays idle, but a connection that sends part of
a request line or headers and then stalls is kept forever. Here each connection must deliver
a complete request head within ``header_timeout_s`` of opening (or of the previous answer);
otherwise it gets ``408 Request Timeout`` (or, if it sent nothing, is simply closed). Bodies
have their own deadline in the app (``server.read_timeout_s``).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

_BODY = b"the request headers did not arrive in time\n"
TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_BODY), _BODY))


class DeadlineH11Protocol(H11Protocol):
    header_timeout_s = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_deadline()

    def data_received(self, data: bytes) -> None:
        self._partial = True
        super().data_received(data)

    def _arm_deadline(self) -> None:
        self._partial = False
        self.loop.call_later(self.header_timeout_s, self._deadline_passed, self.cycle)

    def _deadline_passed(self, cycle_when_armed: object) -> None:
        if self.transport.is_closing() or self.cycle is not cycle_when_armed:
            return  # a new request arrived in time (or the connection is gone)
        if self._partial:
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


def with_header_timeout(seconds: float) -> type[DeadlineH11Protocol]:
    return type("HybridH11Protocol", (DeadlineH11Protocol,), {"header_timeout_s": seconds})
