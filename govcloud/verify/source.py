"""Where verify reads what Nova knows of a server: its console output, its status and fault.

`ConsoleSource` is the seam: `OpenStackConsoleSource` talks to Nova through
openstacksdk (os-getConsoleOutput, GET /servers/{id}); tests use a fake with the
same two methods. Nova's answers are mapped as Tempest reads them: 409 means the
console is not ready yet (the server is still building: try again later), 501 means
the hypervisor driver has no console output at all, 404 that the server or its
console is gone.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


class ConsoleNotReady(Exception):
    """Nova answered 409: the console output is not ready yet."""


class ConsoleUnavailable(Exception):
    """Nova cannot give a console output for the server (501 from the driver, 404, or no such API)."""


@dataclass(frozen=True)
class ServerState:
    status: str = ""  # ACTIVE, BUILD, ERROR, SHUTOFF ...
    fault: str = ""  # "<code> <message>: <details>" when Nova recorded one


class ConsoleSource(Protocol):
    def console_output(self, server_id: str, length: int | None = None) -> str:
        """The console text (its last `length` lines when given); ConsoleNotReady / ConsoleUnavailable."""

    def server_state(self, server_id: str) -> ServerState:
        """The server's status and Nova's fault for it."""


class OpenStackConsoleSource:
    """Nova through openstacksdk, for one project of one cloud (one connection shared by the threads)."""

    def __init__(self, connection):
        self.conn = connection
        self._lock = threading.Lock()  # one request at a time on the shared session

    def console_output(self, server_id: str, length: int | None = None) -> str:
        from openstack import exceptions as os_exc

        try:
            with self._lock:
                body = self.conn.compute.get_server_console_output(server_id, length=length)
        except os_exc.ConflictException as exc:
            raise ConsoleNotReady(f"Nova: the console is not ready yet (409: {_said(exc)})") from None
        except os_exc.NotFoundException as exc:
            raise ConsoleUnavailable(f"Nova: no console output (404: {_said(exc)})") from None
        except os_exc.HttpException as exc:
            if getattr(exc, "status_code", None) == 501:
                raise ConsoleUnavailable("Nova: this cloud's hypervisor driver gives no console output (501)") \
                    from None
            raise ConsoleUnavailable(f"Nova: console output failed ({getattr(exc, 'status_code', '?')}: "
                                     f"{_said(exc)})") from None
        except Exception as exc:  # noqa: BLE001 - keystoneauth's connection errors are no SDKException
            raise ConsoleUnavailable(f"Nova could not be asked ({type(exc).__name__}: {_said(exc)})") from None
        return str((body or {}).get("output") or "")

    def server_state(self, server_id: str) -> ServerState:
        with self._lock:
            server = self.conn.compute.get_server(server_id)
        fault = getattr(server, "fault", None) or {}
        text = ""
        if fault:
            text = " ".join(str(x) for x in (fault.get("code"), fault.get("message")) if x)
            if fault.get("details"):
                text += f": {str(fault['details']).splitlines()[0][:300]}"
        return ServerState(str(getattr(server, "status", "") or ""), text)


def _said(exc) -> str:
    return (getattr(exc, "details", None) or str(exc)).strip().splitlines()[0][:200]


class FakeConsoleSource:
    """A console source from a dict (server id -> console text), for tests without a cloud."""

    def __init__(self, consoles: dict[str, str | Exception] | None = None,
                 states: dict[str, ServerState] | None = None):
        self.consoles = dict(consoles or {})
        self.states = dict(states or {})
        self.calls: list[str] = []

    def console_output(self, server_id: str, length: int | None = None) -> str:
        self.calls.append(server_id)
        text = self.consoles.get(server_id)
        if isinstance(text, Exception):
            raise text
        if text is None:
            raise ConsoleUnavailable("no console output for this server (fake)")
        return "\n".join(text.splitlines()[-length:]) if length else text

    def server_state(self, server_id: str) -> ServerState:
        return self.states.get(server_id, ServerState("ACTIVE"))
