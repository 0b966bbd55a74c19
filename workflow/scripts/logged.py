"""Run one optinter function with its output in the rule's log.

Errors a user can act on (bad config, failed download, malformed raw data, a refused
checkpoint, a damaged stage file) end the job with one clear message on the terminal and in the
log, without a traceback; anything else keeps its traceback in the log. A checkpoint set aside
as unusable is also told on the terminal (one `warning:` line).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from typing import Any, Callable

from optinter.config import ConfigError
from optinter.data.download import DownloadError
from optinter.data.readers import DataError
from optinter.io import CheckpointError, StageOutputError

USER_ERRORS = (ConfigError, DownloadError, DataError, CheckpointError, StageOutputError)


def call(log: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with open(log, "w") as f, contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
        logging.basicConfig(stream=f, level=logging.INFO, force=True,
                            format="%(asctime)s %(name)s: %(message)s")
        # what the user must hear of even when the job succeeds: a checkpoint set aside
        shown = logging.StreamHandler(sys.__stderr__)
        shown.setLevel(logging.WARNING)
        shown.setFormatter(logging.Formatter("warning: %(message)s"))
        logging.getLogger("optinter.model.checkpoint").addHandler(shown)
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            print(f"error: {e}", file=f, flush=True)
            print(f"error: {e}", file=sys.__stderr__, flush=True)
            raise SystemExit(1) from None
        except Exception:
            traceback.print_exc(file=f)
            raise
        finally:
            logging.getLogger("optinter.model.checkpoint").removeHandler(shown)
