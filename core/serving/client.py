"""The dashboard's side of Ray Serve: POST a request to the engine, get the same result types back.

Used by :mod:`core.serving` when ``CONVLENS_SERVE_URL`` is set. Requests and answers travel in
:mod:`core.serving.codec` (JSON plus arrays; never pickle). A request the engine refuses (a bad
class index, an image too small) raises ``ValueError`` with the engine's message, as the
embedded app would; an engine that cannot be reached raises :class:`ServeUnavailable`.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from core.errors import ConvLensError
from core.models import LoadedModel
from core.serving import codec as serve_codec

TIMEOUT_S = 300  # the longest a request may take (an attribution behind a button can take minutes)


class ServeUnavailable(ConvLensError):
    """The serving engine could not answer."""


def ref(model: LoadedModel) -> dict[str, Any]:
    """How the engine finds the same model: its zoo key and whether it has its published weights."""
    return {"key": model.key, "pretrained": model.trained}


def call(url: str, method: str, payload: dict[str, Any]) -> Any:
    """POST ``payload`` to ``url/method`` and decode the answer.

    Raises:
        ValueError: the engine refused the request (the message says why).
        ServeUnavailable: the engine is down, unreachable or failed.
    """
    request = urllib.request.Request(
        f"{url.rstrip('/')}/{method}",
        data=serve_codec.encode(payload),
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        message = exc.read().decode("utf-8", errors="replace")[:2000]
        if exc.code == 422:
            raise ValueError(message) from None
        raise ServeUnavailable(f"The serving engine at {url} failed ({exc.code}): {message}") from None
    except OSError as exc:
        raise ServeUnavailable(
            f"The serving engine at {url} cannot be reached ({exc}). Start it (make serve) or unset CONVLENS_SERVE_URL."
        ) from None
    return serve_codec.decode(body)
