"""Who may call the server: anyone on loopback by default; a token, compared in constant time, otherwise."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from pydantic import SecretStr

from hybrid.errors import ConfigError

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: SecretStr | None) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not is_loopback(host) and not (token and token.get_secret_value()):
        raise ConfigError(
            f"refusing to listen on {host} without a token: anyone who can reach it could spend your cloud budget. "
            "Set server.token in the config (or HYBRID_SERVER__TOKEN), or use --host 127.0.0.1."
        )


class TokenCheck:
    """Accepts ``Authorization: Bearer <token>`` or ``x-api-key: <token>``; no token configured lets all in."""

    def __init__(self, token: SecretStr | None) -> None:
        value = token.get_secret_value() if token else ""
        self._token = value.encode() if value else None

    @property
    def required(self) -> bool:
        return self._token is not None

    def presented(self, headers: Mapping[str, str]) -> bool:
        """True when the headers carry the configured token (False when none is configured)."""
        if self._token is None:
            return False
        auth = headers.get("authorization", "")
        candidates = [headers.get("x-api-key", ""), auth[7:] if auth[:7].lower() == "bearer " else ""]
        # check both without short-circuiting, so timing says nothing about which header matched
        matches = [hmac.compare_digest(c.encode("latin-1", "replace"), self._token) for c in candidates]
        return any(matches)

    def allows(self, headers: Mapping[str, str]) -> bool:
        return self._token is None or self.presented(headers)
