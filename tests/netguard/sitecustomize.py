"""Loaded by test subprocesses (PYTHONPATH): any DNS lookup or connect is logged and refused."""

import os
import socket

_LOG = os.environ.get("NETGUARD_LOG")


def _refuse(what):
    def guard(*args, **kwargs):
        if _LOG:
            with open(_LOG, "a") as log:
                log.write(f"{what} {args[:2]!r}\n")
        raise OSError(f"network access blocked in tests: {what}")
    return guard


socket.getaddrinfo = _refuse("getaddrinfo")
socket.socket.connect = _refuse("connect")
socket.socket.connect_ex = _refuse("connect_ex")
socket.create_connection = _refuse("create_connection")
