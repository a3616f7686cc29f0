"""Who may talk to `dii-hpc ui`, and what it may read: a login node is shared.

Every user of a login node can connect to its 127.0.0.1, so binding there keeps the world
out but not the neighbours. The server therefore:

- makes a random token at start and prints it in the URL (as Jupyter does); a request
  carrying it (``?token=``, or ``Authorization: token ...``) gets a cookie, and every request
  with neither is refused (403) before any route runs;
- binds 127.0.0.1 unless told, and refuses a non-loopback ``--host`` without
  ``--allow-remote``; on loopback it also refuses a ``Host`` header that is not a loopback
  name (a page of another site resolved to 127.0.0.1 by DNS rebinding);
- answers GET and HEAD only (405 otherwise): no endpoint writes, deletes or runs anything;
- serves files only through `confined`, which resolves the path (symlinks included) and
  refuses anything outside its root; a request path with ``..`` segments, raw or
  percent-encoded, is refused before routing.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from dii_hpc.errors import BadInput

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
READ_METHODS = ("GET", "HEAD")
HEADERS = [  # every answer: no framing, no sniffing, no referrer (the token is in URLs)
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
     b"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
]


class Forbidden(Exception):
    """A path outside what the server may read."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address, IPv6 possibly in brackets) is this machine only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    """Refuse to listen beyond this machine unless the user said so (one line, exit 2)."""
    if not is_loopback(host) and not allow_remote:
        raise BadInput(f"--host {host} is reachable from other machines: anyone who obtains the "
                       "URL could read the store; use an SSH tunnel to 127.0.0.1, or add "
                       "--allow-remote to accept that")


def confined(root: Path, path: Path) -> Path:
    """``path`` resolved (every symlink followed), which must lie inside ``root`` resolved."""
    base = root.resolve()
    real = Path(os.path.realpath(path))
    if real != base and base not in real.parents:
        raise Forbidden(f"{path} is outside {base}")
    return real


def traversal(raw_path: bytes | str) -> bool:
    """Whether a request path tries to climb: a ``..`` segment, raw or percent-encoded (even
    twice), or an encoded slash or backslash that could make one."""
    text = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    for _ in range(3):
        if any(seg == ".." for seg in text.replace("\\", "/").split("/")):
            return True
        decoded = unquote(text)
        if decoded == text:
            return False
        text = decoded
    return True  # encoded three times over: no honest client does that


class Guard:
    """ASGI middleware in front of every route: token, Host, method and traversal checks."""

    def __init__(self, app: ASGIApp, token: str, cookie: str, loopback_only: bool) -> None:
        self.app, self.token, self.cookie, self.loopback_only = app, token, cookie, loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return  # websockets: none served
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        why = self._refusal(scope, headers)
        if why is not None:
            await _plain(send, *why)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        by_query = self._matches((query.get("token") or [""])[0])
        if by_query and scope["method"] == "GET" and "text/html" in headers.get("accept", ""):
            await self._redirect_without_token(scope, send)  # a page: cookie, clean URL
            return
        await self.app(scope, receive, _with_headers(send))

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        if self.loopback_only and not is_loopback(_host_name(headers.get("host", ""))):
            return 403, "refused: Host is not a loopback name"
        if not self._authorised(scope, headers):
            return 403, "refused: open the URL with ?token= that `dii-hpc ui` printed"
        if traversal(scope.get("raw_path") or scope["path"]) or traversal(scope["path"]):
            return 403, "refused: the path leaves the store"
        if scope["method"] not in READ_METHODS:
            return 405, "refused: this server only reads (GET, HEAD)"
        return None

    def _matches(self, candidate: str) -> bool:
        return bool(candidate) and hmac.compare_digest(candidate.encode(), self.token.encode())

    def _authorised(self, scope: Scope, headers: dict[str, str]) -> bool:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if self._matches((query.get("token") or [""])[0]):
            return True
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("token", "bearer") and self._matches(value.strip()):
            return True
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no credential
            return False
        held = jar.get(self.cookie)
        return held is not None and self._matches(held.value)

    async def _redirect_without_token(self, scope: Scope, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query.pop("token", None)
        from urllib.parse import urlencode

        rest = urlencode(query, doseq=True)
        location = scope["path"] + (f"?{rest}" if rest else "")
        cookie = (f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict")
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1")),
                                (b"set-cookie", cookie.encode("latin-1")), *HEADERS]})
        await send({"type": "http.response.body", "body": b""})


def _host_name(host: str) -> str:
    """The name of a Host header, without its port (``[::1]:8765`` -> ``::1``)."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            have = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []),
                                  *((k, v) for k, v in HEADERS if k not in have)]
        await send(message)

    return wrapped


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS]})
    await send({"type": "http.response.body", "body": body})
