"""Per-request context that services read without every caller threading it through."""

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
