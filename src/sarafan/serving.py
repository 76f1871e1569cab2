"""The WSGI application as `sarafan serve` loads it into its server's worker processes.

A worker asked to stop while it was loading ends here, before it serves anything
(sarafan/processes.py). Other WSGI servers load `sarafan.wsgi:application`.
"""

from sarafan.processes import stop_if_asked
from sarafan.wsgi import application

stop_if_asked()

__all__ = ["application"]
