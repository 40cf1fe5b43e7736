"""The predict function's entry: any invocation event in, one proxy response out.

One request walks forward through the serve wing, each module entered once:

    proxy_event.to_rest -> routes.find -> guard.body_text -> entry (request | batch -> api
    -> service) -> http.respond

and whatever a step raises is answered by ``errors.reply``, the one map from errors to answers.
The Lambda handler and the local server both call ``handle``.
"""

from __future__ import annotations

from typing import Any

from genre_model.config import settings
from genre_model.serve import errors, guard, proxy_event, routes
from genre_model.serve.http import ProxyResponse, respond


def handle(event: Any, context: Any) -> ProxyResponse:
    """v1 or v2 in, the same answer out (``context`` unused: the model is the container's)."""
    try:
        rest = proxy_event.to_rest(event)
        route = routes.find(rest["httpMethod"], rest["path"])
        text = guard.body_text(rest, route.max_body_bytes)
        reply = route.entry(text, settings())
    except Exception as exc:
        reply = errors.reply(exc)
    return respond(reply)
