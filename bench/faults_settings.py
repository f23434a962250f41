"""The service's settings for the fault run (bench/faults.py): the same beat tasks, due
more often, so that recovery shows within a bounded run (never part of the product)."""

from config.settings import *  # noqa: F403
from config.settings import CELERY_BEAT_SCHEDULE as _SCHEDULE

FAULT_RUN_BEAT_SECONDS = {
    "release-webhooks-send-due": 2.0,
    "release-resume-stalled": 3.0,
    "mail-send-due": 5.0,
}

CELERY_BEAT_SCHEDULE = {
    name: ({**entry, "schedule": FAULT_RUN_BEAT_SECONDS[name]}
           if name in FAULT_RUN_BEAT_SECONDS else entry)
    for name, entry in _SCHEDULE.items()
}

# The release's recovery waits, shortened so that a lost worker's release is recovered
# within the run (production: the defaults in legal_requests/services/release/settings.py;
# the outcome deadline stays above the log wait, as there).
RELEASE_LOG_WAIT_SECONDS = 10.0
RELEASE_OUTCOME_DEADLINE_SECONDS = 15
RELEASE_RETRY_SECONDS = 5
RELEASE_LOCK_SECONDS = 30

# A webhook whose outcome is not recorded is sent again once its lease lapses: short
# enough to show within the run, still above the POST timeout (10 s) plus the time an
# attempt keeps trying to record its outcome through a database outage.
WEBHOOK_RECORD_RETRY_SECONDS = 20
WEBHOOK_LEASE_SECONDS = 45
