"""Follow-up work queued after commit, by task name.

A service never imports its app's tasks module: tasks load ids and call services, so
the dependency runs one way only. A service names the task instead; every app imports
its own tasks module in `AppConfig.ready()`, so each name is registered in every
process (web, worker, beat, tests) before any service runs. In eager mode (the demo)
the task then runs in-process once the transaction commits.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction


class UnknownTask(LookupError):
    """No Celery task has that name: its app's tasks module was not imported."""


def task_enqueue_on_commit(name: str, *args: object) -> None:
    """Queue task `name` with `args` once the surrounding transaction commits.

    The name is resolved now, inside the caller's transaction, so a typo fails the
    service rather than being lost after the commit.
    """
    try:
        task = current_app.tasks[name]
    except KeyError:
        raise UnknownTask(name) from None
    transaction.on_commit(lambda: task.delay(*args))
