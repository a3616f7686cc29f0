"""`dii-hpc ui`: the starlette app over the store, and serving it with uvicorn.

Routes: the JSON API (`api`, live updates `live`) and the site's pages rendered on demand
(`pages`); everything behind `security.Guard`. Store reads are blocking, so handlers are
plain functions (starlette runs them in its thread pool) and the event stream does its reads
in worker threads. starlette and uvicorn are imported here only (the `ui` extra), never by
`dii-hpc --help`.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import BadInput, DamagedRun, DiiError, NotFound
from dii_hpc.ui import api, live
from dii_hpc.ui.security import Forbidden, Guard, check_bind, is_loopback, new_token

if TYPE_CHECKING:  # pragma: no cover
    from starlette.requests import Request
    from starlette.responses import Response

    from dii_hpc.store.store import Store
    from dii_hpc.ui.listing import RunsCache

Handler = Callable[["Request"], Any]


def _status_of(err: Exception) -> int:
    if isinstance(err, Forbidden):
        return 403
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, DamagedRun):
        return 500
    if isinstance(err, BadInput):
        return 400
    return 500


def error_response(err: Exception) -> Response:
    from starlette.responses import Response

    from dii_hpc.store.atomic import dumps

    text = "the path leaves the store" if isinstance(err, Forbidden) else str(err).splitlines()[0]
    return Response(dumps({"error": text}, indent=None), status_code=_status_of(err),
                    media_type="application/json")


def json_route(fn: Callable[[Request], Any]) -> Handler:
    """A handler returning JSON-able data (or bytes already encoded) as a JSON response;
    the library's errors as 400/403/404/500 with a one-line message."""
    from starlette.responses import Response

    from dii_hpc.store.atomic import dumps

    def endpoint(request: Request) -> Response:
        try:
            out = fn(request)
        except (DiiError, Forbidden) as err:
            return error_response(err)
        body = out if isinstance(out, bytes) else dumps(out, indent=None)
        return Response(body, media_type="application/json")

    return endpoint


def _args(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def api_routes(store: Store, cache: RunsCache) -> list[Any]:
    from starlette.routing import Route

    p = "path_params"

    def param(request: Request, name: str) -> str:
        return str(getattr(request, p)[name])

    table: list[tuple[str, Callable[[Request], Any]]] = [
        ("/api/experiments", lambda r: api.experiments(cache)),
        ("/api/experiments/{name}/runs",
         lambda r: api.runs_page(cache, param(r, "name"), _args(r))),
        ("/api/runs/{run_id}", lambda r: api.run(store, param(r, "run_id"))),
        ("/api/runs/{run_id}/metrics/{key:path}",
         lambda r: api.metric(store, param(r, "run_id"), param(r, "key"), _args(r))),
        ("/api/runs/{run_id}/logs/{name:path}",
         lambda r: api.log_tail(store, param(r, "run_id"), param(r, "name"), _args(r))),
        ("/api/runs/{run_id}/updates", lambda r: _poll(store, r)),
        ("/api/audits", lambda r: api.audits(cache)),
        ("/api/models", lambda r: api.models(store)),
        ("/api/models/{name}", lambda r: api.model(store, param(r, "name"))),
        ("/api/pipelines", lambda r: api.pipelines(store)),
        ("/api/pipelines/{pid}", lambda r: api.pipeline(store, param(r, "pid"))),
        ("/api/monitors", lambda r: api.monitors(store)),
        ("/api/monitors/{name}", lambda r: api.monitor(store, param(r, "name"))),
    ]
    routes = [Route(path, json_route(fn), methods=["GET"]) for path, fn in table]
    routes.append(Route("/api/runs/{run_id}/events", _events_endpoint(store), methods=["GET"]))
    return routes


def _poll(store: Store, request: Request) -> dict[str, Any]:
    """One look at a run for a polling client: the same content as one event of the stream."""
    args = _args(request)
    watch = live.Watch(store, request.path_params["run_id"], live.parse_cursors(args.get("since")),
                       width=api.int_arg(args, "width", live.DEFAULT_WIDTH, 1, 20_000))
    return watch.update() or {"ended": False}


def _events_endpoint(store: Store) -> Handler:
    async def endpoint(request: Request) -> Response:
        import anyio
        from starlette.responses import StreamingResponse

        args = _args(request)
        try:
            cursors = live.parse_cursors(args.get("since"))
            width = api.int_arg(args, "width", live.DEFAULT_WIDTH, 1, 20_000)
            watch = await anyio.to_thread.run_sync(
                lambda: live.Watch(store, request.path_params["run_id"], cursors, width))
        except DiiError as err:
            return error_response(err)
        return StreamingResponse(live.events(watch), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    return endpoint


def create_app(store: Store, token: str, cookie: str, loopback_only: bool = True) -> Any:
    """The whole server as one ASGI app (the Guard in front of every route)."""
    from starlette.applications import Starlette

    from dii_hpc.ui.listing import RunsCache
    from dii_hpc.ui.pages import page_routes

    cache = RunsCache(store)
    inner = Starlette(routes=[*api_routes(store, cache), *page_routes(store, cache)])
    return Guard(inner, token=token, cookie=cookie, loopback_only=loopback_only)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, opened here so that a port in use is one line (exit 2) and
    ``--port 0`` takes a free port that the printed URL then names."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto
    # says TCP, and a socket made with proto 0 held every small answer ~40 ms (delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise BadInput(f"cannot listen on {host}:{port} ({err.strerror}); "
                       "give another --port") from err
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int, token: str) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    return f"http://{shown}:{port}/?token={token}"


def serve(store: Store, host: str = "127.0.0.1", port: int = 8765,
          allow_remote: bool = False, token: str | None = None) -> None:
    """Run the server until interrupted; prints its URL (with the token) on stdout."""
    import uvicorn

    check_bind(host, allow_remote)
    token = token or new_token()
    sock = bind(host, port)
    port = sock.getsockname()[1]
    app = create_app(store, token, cookie=f"dii-hpc-ui-{port}", loopback_only=is_loopback(host))
    print(url_of(host, port, token), flush=True)
    print(f"dii-hpc ui: serving {store.root} read-only; from a laptop: "
          f"ssh -L {port}:127.0.0.1:{port} <login node>, then open the URL above",
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2, server_header=False)
    uvicorn.Server(config).run(sockets=[sock])
