"""The web UI: static ES modules served at ``/ui`` and its entry page at ``/``.

The UI is a client of the public ``/api/v1`` routes like any other (see ADR 0006), so these routes need no key:
they serve only code, never data. Every response forbids third-party origins, so the page works offline and a
stray injected script has nowhere to send anything.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@get("/", include_in_schema=False, media_type="text/html", sync_to_thread=False)
def index(request: Request) -> Response[bytes]:
    """The single page of the UI; its modules come from ``/ui/``."""
    return Response(
        (UI_DIR / "index.html").read_bytes(),
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


def ui_router() -> Router:
    """The static files of the UI, revalidated on each load so an upgrade is picked up at once."""
    return create_static_files_router(
        path="/ui",
        directories=[UI_DIR],
        name="ui",
        include_in_schema=False,
        after_request=_secure,
        cache_control=CacheControlHeader(no_cache=True),
    )
