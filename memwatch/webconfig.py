"""The Prometheus exporter-toolkit web config file: TLS and basic auth on the listener.

Same keys as node_exporter's `--web.config.file`, so operators reuse what they have:
https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import ssl
import threading
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError

from memwatch.errors import SpecError
from memwatch.spec import safe_yaml
from memwatch.spec.base import Model

ClientAuth = Literal["NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                     "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]


class TlsServerConfig(Model):
    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS10", "TLS11", "TLS12", "TLS13"] | None = None
    # Accepted for compatibility; Python's ssl module picks ciphers and curves itself.
    cipher_suites: list[str] | None = None
    curve_preferences: list[str] | None = None
    prefer_server_cipher_suites: bool | None = None
    client_allowed_sans: list[str] | None = None


class HttpServerConfig(Model):
    http2: bool | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class WebConfig(Model):
    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig = HttpServerConfig()
    basic_auth_users: dict[str, str] = Field(
        default_factory=dict, description="user: bcrypt hash of the password")

    def ssl_context(self) -> ssl.SSLContext | None:
        tls = self.tls_server_config
        if tls is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        versions = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                    "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
        ctx.minimum_version = versions[tls.min_version]
        if tls.max_version:
            ctx.maximum_version = versions[tls.max_version]
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.client_auth_type != "NoClientCert":
            if tls.client_ca_file:
                ctx.load_verify_locations(tls.client_ca_file)
            ctx.verify_mode = (ssl.CERT_REQUIRED if tls.client_auth_type in
                               ("RequireAnyClientCert", "RequireAndVerifyClientCert")
                               else ssl.CERT_OPTIONAL)
        return ctx


class BasicAuth:
    """Checks `Authorization: Basic` against bcrypt hashes, caching verified pairs
    (bcrypt is deliberately slow; Prometheus sends the same credentials every scrape)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = {u: h.encode() for u, h in users.items()}
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()
        self._decoy: bytes | None = None

    def decoy(self) -> bytes:
        """A hash of nothing at the highest cost the users' hashes have: an unknown user
        is checked against it, as slowly as a known one, so timing tells no names apart."""
        if self._decoy is None:
            import bcrypt  # only listeners with basic auth load it

            costs = [int(h.split(b"$")[2]) for h in self.users.values()
                     if h.count(b"$") >= 3 and h.split(b"$")[2].isdigit()]
            self._decoy = bcrypt.hashpw(b"no such user", bcrypt.gensalt(max(costs or [12])))
        return self._decoy

    def check(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        hashed = self.users.get(user)
        if hashed is None:
            import bcrypt

            bcrypt.checkpw(password.encode(), self.decoy())  # as slow as a known user
            return False
        key = hashlib.sha256(user.encode() + b"\0" + password.encode() + b"\0" + hashed).digest()
        with self._lock:
            if any(hmac.compare_digest(key, k) for k in self._ok):
                return True
        try:
            import bcrypt
            ok = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._ok.add(key)
        return ok


_TLS_FILES = ("cert_file", "key_file", "client_ca_file")


def load_web_config(path: Path) -> WebConfig:
    text = ""
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        cfg = WebConfig.model_validate(data)
    except OSError as exc:
        raise SpecError([f"{path}: cannot read the web config: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise SpecError([safe_yaml.problem(exc, text, str(path))]) from None
    except ValidationError as exc:
        raise SpecError([f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}"
                         for e in exc.errors()]) from None
    tls = cfg.tls_server_config
    if tls is None:
        return cfg
    # Relative paths are relative to the web config file, as in exporter-toolkit.
    base = Path(path).parent
    files = {k: base / v for k in _TLS_FILES if (v := getattr(tls, k)) is not None}
    cfg = cfg.model_copy(update={"tls_server_config": tls.model_copy(update=files)})
    problems = [f"{path}: tls_server_config.{k}: cannot read {f}"
                for k, f in files.items() if not (f.is_file() and os.access(f, os.R_OK))]
    if problems:
        raise SpecError(problems)
    try:
        cfg.ssl_context()  # fail here, naming the file, not later as "cannot listen"
    except (OSError, ssl.SSLError) as exc:
        raise SpecError([f"{path}: tls_server_config: cannot load the certificate, key or "
                         f"client CA: {exc}"]) from None
    return cfg
