"""Errors of the allot client: every server error answer becomes an AllotError."""

from __future__ import annotations

from typing import Any, Dict, Optional


class AllotError(Exception):
    """An error answer of the server, or a transport failure (status 0, code "unavailable").

    ``status`` is the HTTP status, ``code`` the error code of the body (``invalid_value``, ``not_found``,
    ``permission_denied``, ``degraded`` ...), ``field`` the request field it names (or None),
    ``retry_after`` the Retry-After header in seconds (or None) and ``body`` the whole JSON answer.
    """

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None,
                 body: Optional[Dict[str, Any]] = None, retry_after: Optional[float] = None) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (field {field})" if field else ""))
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.body: Dict[str, Any] = body or {}
        self.retry_after = retry_after


class AllotConnectionError(AllotError, ConnectionError):
    """The server could not be reached, or the connection broke before a whole answer arrived.

    ``sent`` is False when the request never left (no server accepted the connection): it did nothing;
    ``everywhere`` then says whether every server of the list was tried.
    """

    def __init__(self, message: str, sent: bool = True, everywhere: bool = True) -> None:
        super().__init__(0, "unavailable", message)
        self.sent = sent
        self.everywhere = everywhere


def error_from(status: int, body: Any, retry_after: Optional[str]) -> AllotError:
    """The AllotError of an error answer (status >= 400)."""
    err = body.get("error") if isinstance(body, dict) else None
    ra: Optional[float] = None
    if retry_after:
        try:
            ra = float(retry_after)
        except ValueError:
            ra = None
    if isinstance(err, dict):
        return AllotError(status, str(err.get("code", "unknown")), str(err.get("message", "")), err.get("field") or None,
                          body, ra)
    return AllotError(status, "unknown", f"HTTP {status} without an error body", None,
                      body if isinstance(body, dict) else {}, ra)
