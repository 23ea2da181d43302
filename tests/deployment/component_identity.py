"""The hostname each deployment component reports (Airflow's ``core.hostname_callable``).

Every component of the test deployment runs on this one machine, so the real hostname cannot tell two
Celery workers or two triggerers apart; each is started with its own name in ``GENAI_BATCH_COMPONENT``,
which lands in the task instance's ``hostname`` and the triggerer job's row, as a real host name would.
"""

from __future__ import annotations

import os
import socket

COMPONENT_NAME_VARIABLE = "GENAI_BATCH_COMPONENT"


def hostname() -> str:
    """This component's name, or the machine's when it was started without one."""
    return os.environ.get(COMPONENT_NAME_VARIABLE) or socket.getfqdn()
