"""gunicorn settings for both bench servers: the repo's ``gunicorn.conf.py`` with no access log.

(``--access-logfile ''`` is refused by gunicorn, so the bench loads this file instead; bind,
workers and worker class are given on the command line, the same for both apps.)
"""

import runpy
from pathlib import Path

_repo = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
globals().update({k: v for k, v in _repo.items() if not k.startswith("_") and k != "os"})
accesslog = None
# gunicorn >= 24 opens a control socket at one fixed path per user; two bench servers (or anyone
# else's gunicorn) would fight over it. Older gunicorns ignore this unknown setting.
control_socket_disable = True
