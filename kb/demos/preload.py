"""Imported once by the demo fork server, never by the API process.

The fork server (``multiprocessing``'s "forkserver" start method) is a clean, single-threaded
process from which every demo worker is forked. Importing the heavy modules here, once, makes
a worker start in milliseconds instead of a second.

Two adjustments apply to the fork server and its workers only:

* BLAS runs single-threaded: the runner already runs one worker per core.
* Workers do not re-run the API process's ``__main__`` (``multiprocessing`` would otherwise
  re-execute the ``kb`` or ``pytest`` script in every worker, importing the whole web stack):
  jobs only ever reference functions in importable modules.
"""

import contextlib
import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import multiprocessing.spawn  # noqa: E402


def _skip_main(_main: str) -> None:
    return None


setattr(multiprocessing.spawn, "_fixup_main_from_name", _skip_main)  # noqa: B010
setattr(multiprocessing.spawn, "_fixup_main_from_path", _skip_main)  # noqa: B010

import kb.demos.registry  # noqa: E402
import kb.demos.worker  # noqa: E402, F401
from kb.demos import plots  # noqa: E402

# A failed warm-up only costs the first worker some time; it must not stop the fork server.
with contextlib.suppress(Exception):
    plots.warm_up()
