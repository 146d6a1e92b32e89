"""`iiot cloud dashboard` settings: one typed object, each field declared once with its default and help.

Variables are ``IIOT_<FIELD>`` like the rest of the cloud side. The dashboard inherits the Kafka,
InfluxDB, MQTT and processing settings so that it reads the same topics, bucket and alert
thresholds as the pipeline it shows (the thresholds are drawn on the prediction charts).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cloud.processing.windows import parse_duration_ms
from cloud.settings import EmbeddedSettings, InfluxSettings, KafkaSettings

LinkKind = Literal["storage", "kafka", "memory"]


class DashboardSettings(EmbeddedSettings, KafkaSettings, InfluxSettings):
    """`iiot cloud dashboard`."""

    dashboard_host: str = Field(
        default="127.0.0.1", description="address to listen on (0.0.0.0 to serve the plant LAN)"
    )
    dashboard_port: int = Field(default=8080, description="HTTP port")
    dashboard_storage_url: str = Field(
        default="sqlite:///var/iiot-cloud.db",
        description="storage the pipeline writes: sqlite:///file (embedded) or influxdb://host:port",
    )
    dashboard_link: LinkKind = Field(
        default="storage",
        description=(
            "live feed and action path: kafka (alerts topic in, alert-actions out), memory (in-process,"
            " wired by the embedded runner), storage (read-only: watch the storage for alert changes)"
        ),
    )
    dashboard_users_file: str = Field(
        default="var/dashboard-users.json", description="users and API tokens (argon2id / sha256 hashes)"
    )
    dashboard_secret: str = Field(
        default="", description="key that signs session tokens (empty: kept in dashboard_secret_file)"
    )
    dashboard_secret_file: str = Field(
        default="var/dashboard-secret", description="where a generated signing key is kept across restarts"
    )
    dashboard_session_ttl: str = Field(default="8h", description="a login lasts this long (one shift)")
    dashboard_cookie_secure: bool = Field(
        default=False, description="mark cookies Secure (set when served over HTTPS)"
    )
    dashboard_bootstrap_admin: str = Field(
        default="", description="NAME:PASSWORD of a user created at start, for demos (never written)"
    )
    dashboard_bootstrap_role: Literal["viewer", "operator", "admin"] = Field(
        default="admin", description="role of the bootstrap user"
    )
    dashboard_argon2_time_cost: int = Field(default=3, description="argon2id iterations")
    dashboard_argon2_memory_kib: int = Field(default=65_536, description="argon2id memory in KiB")
    dashboard_argon2_parallelism: int = Field(default=2, description="argon2id lanes")
    dashboard_login_attempts: int = Field(
        default=5, description="failed logins per user before a pause of dashboard_login_lockout"
    )
    dashboard_login_lockout: str = Field(default="30s", description="pause after too many failed logins")
    dashboard_cache_ttl: str = Field(
        default="2s", description="how old machine state in hot JSON answers may get (alert changes: at once)"
    )
    dashboard_refresh: str = Field(
        default="2s", description="how often the server recomputes the plant overview and pushes changes"
    )
    dashboard_heartbeat: str = Field(default="15s", description="server-sent events heartbeat interval")
    dashboard_poll: str = Field(
        default="1s", description="storage link: how often the one server-side watcher reads alert changes"
    )
    dashboard_detections_kept: int = Field(
        default=200, description="latest detection events (with crops) kept in memory for the defect feed"
    )
    dashboard_defect_window: str = Field(default="10m", description="event-time window of the defect rates")
    dashboard_trend_window: str = Field(
        default="30m", description="event-time span of the sensor and prediction charts"
    )
    dashboard_layout_file: str = Field(
        default="", description="optional JSON {line: [machine, ...]} naming lines and their order"
    )

    def ms(self, field: str) -> int:
        """A duration field in milliseconds."""
        return parse_duration_ms(str(getattr(self, field)))
