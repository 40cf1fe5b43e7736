"""SnapStart for the predict function: the snapshot holds a loaded model, a restore re-checks it.

During the snapshotting init (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``) the latest model is
loaded, so a restored container answers its first request without reading S3. After a restore
(Lambda calls the hook before the first invocation) the cache's store is dropped (its connections
and clients were opened before the snapshot and are shared by every clone), and ``latest.json``
is re-read by a fresh cache within ``RESTORE_DEADLINE_SECONDS``: when it answers in time the
restored container serves the newest version; when S3 is slow or down it keeps the snapshotted
one, and the fresh cache takes over if it finishes later. The hook never raises (a failing hook
fails the restore). ``snapshot_restore_py`` is provided by the Lambda runtime (Python 3.12+);
without it (other runtimes, local runs) nothing is registered and the model loads lazily.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from genre_model.config import settings, snap_start_init
from genre_model.serve import api
from genre_model.serve.model_cache import ModelUnavailable

RESTORE_DEADLINE_SECONDS = 2.0  # the restore phase is billed and delays the first request

logger = logging.getLogger(__name__)
_registered = False


def _register_after_restore() -> Callable[..., Any] | None:
    try:  # the runtime's module ships without type information
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return None
    register: Callable[..., Any] = register_after_restore
    return register


def prepare() -> None:
    """At init, under SnapStart only: load the model now and register the after-restore hook."""
    global _registered
    if not snap_start_init():
        return
    try:
        api.model_cache().get()
    except ModelUnavailable as exc:  # nothing published yet: the restored container retries
        logger.warning("No model in the snapshot: %s", exc)
    register = _register_after_restore()
    if register is not None and not _registered:
        register(after_restore)
        _registered = True


def after_restore(deadline: float = RESTORE_DEADLINE_SECONDS) -> None:
    """Drop pre-snapshot connections; serve the newest model if S3 answers within ``deadline``."""
    started = time.monotonic()
    snapshotted = api.model_cache()
    snapshotted.forget_store()
    settings.cache_clear()  # the credentials the runtime gives the signed GET are this clone's
    fresh = api.new_model_cache()
    done = threading.Event()

    def recheck() -> None:
        try:
            fresh.get()
            api.install_cache(fresh)
        except ModelUnavailable as exc:
            logger.warning("After restore: latest.json not re-read: %s", exc)
        except Exception:  # the hook must not fail the restore
            logger.exception("After restore: re-check failed")
        finally:
            done.set()

    threading.Thread(target=recheck, name="after-restore-recheck", daemon=True).start()
    in_time = done.wait(deadline)
    serving = api.model_cache().model
    logger.info(
        "After restore (%.0f ms): serving %s version %s",
        (time.monotonic() - started) * 1000,
        "the re-checked"
        if api.model_cache() is fresh
        else "the snapshotted (re-check failed)"
        if in_time
        else f"the snapshotted (S3 slower than {deadline:.1f} s)",
        serving.version if serving else None,
    )
