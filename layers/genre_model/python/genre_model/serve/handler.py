"""The predict function's entry: any invocation event in, one proxy response out.

One request walks forward through the serve wing, each module entered once:

    proxy_event.to_rest -> guard.body_text -> routes.find -> entry (request | batch -> api
    -> service) -> http.respond

and whatever a step raises is answered by ``errors.reply``, the one map from errors to answers.
The Lambda handler and the local server both call ``handle``.
"""

from __future__ import annotations

from typing import Any

from genre_model.config import settings
from genre_model.serve import errors, guard, proxy_event, routes
from genre_model.serve.http import ProxyResponse, Reply, respond


def _answer(event: Any) -> Reply:
    try:
        rest = proxy_event.to_rest(event)
        text = guard.body_text(rest)
        entry = routes.find(rest["httpMethod"], rest["path"])
        return entry(text, settings())
    except Exception as exc:
        return errors.reply(exc)


def handle(event: Any, context: Any) -> ProxyResponse:
    """v1 or v2 in, the same answer out (``context`` unused: the model is the container's)."""
    return respond(_answer(event))
