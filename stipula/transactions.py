"""after_commit: ``transaction.on_commit(..., robust=True)`` for a function with arguments.

Django logs a failing robust callback by its ``__qualname__``, which a ``functools.partial`` lacks:
the logging itself then raises AttributeError out of the commit, into a request whose change was
committed. A named closure keeps the robust behaviour: the failure is logged, the change stands.
"""

from django.db import transaction


def after_commit(func, /, *args, **kwargs) -> None:
    def call():
        return func(*args, **kwargs)

    call.__qualname__ = getattr(func, "__qualname__", repr(func))
    transaction.on_commit(call, robust=True)
