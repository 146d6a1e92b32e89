"""The dashboard's errors; the web adapter maps each to one HTTP status.

CloudError (cloud.errors)
└── DashboardError             base of the dashboard's errors
    ├── AuthError              who are you? (401)
    │   ├── BadCredentials     unknown user or wrong password
    │   └── SessionInvalid     missing, tampered or expired session or API token
    ├── Forbidden              known, but not allowed (403)
    │   ├── RoleForbidden      the role lacks the permission
    │   └── CsrfRejected       a POST without the right anti-forgery token
    ├── ActionRejected         the action does not apply to the alert in its state (409)
    ├── NotFound               no such alert, machine or image (404)
    ├── UserStoreError         the users file cannot be read or written (not retriable)
    └── LinkUnavailable        the pipeline link (Kafka, embedded runner) is down (503, retriable)
"""

from __future__ import annotations

from cloud.errors import CloudError


class DashboardError(CloudError):
    """Base of every dashboard error."""

    status: int = 500


class AuthError(DashboardError):
    """The caller is not authenticated."""

    status = 401


class BadCredentials(AuthError):
    """Unknown user or wrong password (deliberately indistinguishable)."""


class SessionInvalid(AuthError):
    """The session cookie or bearer token is missing, tampered with or expired."""


class Forbidden(DashboardError):
    """The caller is authenticated but may not do this."""

    status = 403


class RoleForbidden(Forbidden):
    """The caller's role lacks the permission."""


class CsrfRejected(Forbidden):
    """A state-changing request without the matching anti-forgery token."""


class ActionRejected(DashboardError):
    """An operator action that does not apply to the alert in its current state."""

    status = 409


class NotFound(DashboardError):
    """No such alert, machine, node or image."""

    status = 404


class UserStoreError(DashboardError):
    """The users file is unreadable, malformed or cannot be written."""


class LinkUnavailable(DashboardError):
    """The link into the pipeline (Kafka producer, embedded runner) cannot take the action now."""

    status = 503
    retriable = True
