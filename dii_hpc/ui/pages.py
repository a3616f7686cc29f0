"""The site's pages, served by `dii-hpc ui`: rendered on demand by the report's renderer.

The server does not render anything itself: a page path of the static site (``index.html``,
``experiments/<x>.html``, ``runs/<id>.html``, ...) goes to the one renderer of the report
(`dii_hpc.report.serve`), which builds it from the store as `report build` would. The server
adds what only a server can: run pages load ``/_ui/live.js``, which follows the run while it
runs (`live.py`); ``static/`` comes from the report's resources; ``files/<sha256>/<name>``
is the artifact blob itself, confined to the store and served inert (images as images, text
as text/plain, anything else as a download, all under a sandbox policy).
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dii_hpc.errors import DiiError, NotFound
from dii_hpc.ui.security import Forbidden, confined

if TYPE_CHECKING:  # pragma: no cover
    from starlette.requests import Request
    from starlette.responses import Response

    from dii_hpc.store.store import Store
    from dii_hpc.ui.listing import RunsCache

HERE = Path(__file__).resolve().parent
LIVE_JS = HERE / "static" / "live.js"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
_TEXT = (".txt", ".log", ".json", ".csv", ".tsv", ".yaml", ".yml", ".md", ".out", ".err")
LIVE_TAG = b'<script src="/_ui/live.js"></script>'


def page_routes(store: Store, cache: RunsCache) -> list[Any]:
    from starlette.routing import Route

    return [
        Route("/_ui/live.js", _live_js, methods=["GET"]),
        Route("/favicon.ico", _no_icon, methods=["GET"]),
        Route("/static/{path:path}", _static, methods=["GET"]),
        Route("/files/{sha}/{name:path}", _file_endpoint(store), methods=["GET"]),
        Route("/", _page_endpoint(store), methods=["GET"]),
        Route("/{path:path}", _page_endpoint(store), methods=["GET"]),
    ]


def _live_js(request: Request) -> Response:
    from starlette.responses import FileResponse

    return FileResponse(LIVE_JS, media_type="text/javascript")


def _no_icon(request: Request) -> Response:
    """The site has no icon; say so without an error (a 404 here is a console error in
    every browser tab)."""
    from starlette.responses import Response

    return Response(status_code=204)


def _static(request: Request) -> Response:
    from starlette.responses import FileResponse

    from dii_hpc.report.resources import static_dir

    base = static_dir()
    try:
        path = confined(base, base / request.path_params["path"])
    except Forbidden:
        return _text(403, "refused: the path leaves the site's static files")
    if not path.is_file():
        return _text(404, "no such file")
    return FileResponse(path)


def _file_endpoint(store: Store) -> Any:
    def endpoint(request: Request) -> Response:
        from starlette.responses import FileResponse

        from dii_hpc.store.blobs import blob_path

        sha, name = request.path_params["sha"], request.path_params["name"]
        if not _SHA.match(sha):
            return _text(404, "no such file")
        try:
            path = confined(store.root, blob_path(store.root, sha))
        except Forbidden:
            return _text(403, "refused: the path leaves the store")
        if not path.is_file():
            return _text(404, "no such file")
        kind = mimetypes.guess_type(name)[0] or ""
        headers = {"content-security-policy": "sandbox; default-src 'none'"}
        if kind in _IMAGES:
            return FileResponse(path, media_type=kind, headers=headers)
        if name.lower().endswith(_TEXT):
            return FileResponse(path, media_type="text/plain; charset=utf-8", headers=headers)
        return FileResponse(path, media_type="application/octet-stream", headers=headers,
                            filename=Path(name).name)

    return endpoint


def _page_endpoint(store: Store) -> Any:
    def endpoint(request: Request) -> Response:
        from starlette.responses import Response

        from dii_hpc.report import serve

        path = request.path_params.get("path") or "index.html"
        try:
            found = serve.render(store, path)
        except (NotFound, FileNotFoundError):
            found = None
        except Forbidden:
            return _text(403, "refused: the path leaves the store")
        except DiiError as err:
            return _text(500, str(err).splitlines()[0])
        if found is None:
            return _text(404, f"no page {path}")
        body, media_type = found
        if path.startswith("runs/") and path.endswith(".html"):
            body = body.replace(b"</body>", LIVE_TAG + b"\n</body>", 1)
        return Response(body, media_type=media_type)

    return endpoint


def _text(status: int, text: str) -> Response:
    from starlette.responses import PlainTextResponse

    return PlainTextResponse(text + "\n", status_code=status)
