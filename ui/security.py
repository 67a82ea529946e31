"""HTTP headers that keep the app's pages and files from being misread or framed by other sites."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware

#: Sent with every response that does not set them itself. No X-Frame-Options: a Space shows the app inside
#: huggingface.co's page, and that header cannot name two origins; the policy's frame-ancestors can. The policy
#: restricts framing, plugins and the base URL only: Gradio's pages need their inline scripts and styles.
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": (
        "frame-ancestors 'self' https://huggingface.co https://*.hf.space; object-src 'none'; base-uri 'self'"
    ),
}


class SecurityHeaders:
    """ASGI middleware adding :data:`HEADERS` (a plain ASGI wrapper: streamed responses stay streamed)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def app_kwargs() -> dict:
    """``launch(app_kwargs=...)`` for Gradio's FastAPI app."""
    return {"middleware": [Middleware(SecurityHeaders)]}
