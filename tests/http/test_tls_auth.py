"""TLS and basic auth from an exporter-toolkit web config file, over real sockets."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from memwatch.errors import SpecError
from memwatch.webconfig import WebConfig, load_web_config
from tests.helpers import get
from tests.http.support import Store, parse, sample, served


def write_web_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def fetch(url: str, ctx: ssl.SSLContext | None = None, headers: dict[str, str] | None = None,
          timeout: float = 5) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- TLS ---------------------------------------------------------------------------------

def test_https_with_web_config_file(store: Store, tls_cert: tuple[Path, Path],
                                    tmp_path: Path) -> None:
    cert, key = tls_cert
    web = load_web_config(write_web_config(
        tmp_path / "web.yml",
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"))
    with served(store.spec(), web) as url:
        assert url.startswith("https://")
        status, body = fetch(url + "/metrics", client_context(cert))
        assert status == 200
        assert sample(parse(body), "memwatch_store_memories", store="oc") == store.active

        # a client that does not trust the certificate refuses it
        with pytest.raises(urllib.error.URLError) as err:
            fetch(url + "/metrics", ssl.create_default_context())
        assert isinstance(err.value.reason, ssl.SSLCertVerificationError)

        # plain HTTP on the TLS port gets no metrics
        plain = url.replace("https://", "http://")
        with pytest.raises((http.client.HTTPException, OSError)):
            fetch(plain + "/metrics")


def test_tls_min_version_is_enforced(store: Store, tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    web = WebConfig.model_validate({"tls_server_config": {
        "cert_file": str(cert), "key_file": str(key), "min_version": "TLS13"}})
    with served(store.spec(), web) as url:
        old = client_context(cert)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            fetch(url + "/health", old)
        assert fetch(url + "/health", client_context(cert))[0] == 200


def test_silent_client_does_not_stall_the_tls_listener(
        store: Store, tls_cert: tuple[Path, Path]) -> None:
    """A TCP connection that never starts its handshake (a port scanner, a half-open
    connection) must not block other scrapes: the handshake may not run in accept()."""
    cert, key = tls_cert
    web = WebConfig.model_validate({"tls_server_config": {
        "cert_file": str(cert), "key_file": str(key)}})
    with served(store.spec(), web) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)):
            time.sleep(0.1)  # let the listener accept it
            start = time.monotonic()
            status, _ = fetch(url + "/metrics", client_context(cert), timeout=3)
            assert status == 200
            assert time.monotonic() - start < 2


def test_relative_cert_paths_are_relative_to_the_web_config(
        tls_cert: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in exporter-toolkit: cert_file and key_file resolve against the file's folder."""
    cert, key = tls_cert
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "c.pem").write_bytes(cert.read_bytes())
    (conf_dir / "k.pem").write_bytes(key.read_bytes())
    path = write_web_config(conf_dir / "web.yml",
                            "tls_server_config: {cert_file: c.pem, key_file: k.pem}\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    web = load_web_config(path)
    assert web.tls_server_config is not None
    assert web.tls_server_config.cert_file == conf_dir / "c.pem"
    assert web.ssl_context() is not None


@pytest.mark.parametrize("text, named", [
    ("tls_server_config: {cert_file: nope.pem, key_file: KEY}\n",
     "tls_server_config.cert_file: cannot read"),
    ("tls_server_config: {cert_file: CERT, key_file: KEY, bogus: 1}\n",
     "tls_server_config.bogus"),
    ("tls_server_config: {key_file: KEY}\n", "tls_server_config.cert_file: Field required"),
    ("tls_server_config: {cert_file: KEY, key_file: KEY}\n", "cannot load the certificate"),
    ("basic_auth_users: [prom]\n", "basic_auth_users"),
])
def test_bad_web_config_names_the_key(tls_cert: tuple[Path, Path], tmp_path: Path,
                                      text: str, named: str) -> None:
    cert, key = tls_cert
    path = write_web_config(tmp_path / "web.yml",
                            text.replace("CERT", str(cert)).replace("KEY", str(key)))
    with pytest.raises(SpecError) as err:
        load_web_config(path)
    assert named in str(err.value)
    assert str(path) in str(err.value)


# --- basic auth --------------------------------------------------------------------------

def test_basic_auth(store: Store, prom_hash: str, tmp_path: Path) -> None:
    web = load_web_config(write_web_config(
        tmp_path / "web.yml",
        f"basic_auth_users:\n  prom: '{prom_hash}'\n"
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"))
    with served(store.spec(), web) as url:
        status, headers, body = get(url + "/metrics")
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic ")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "memwatch_" not in body

        for user, password in (("prom", "wrong"), ("root", "s3cret-scrape"),
                               ("prom", ""), ("prom", "s3cret-scrape ")):
            status, headers, body = get(url + "/metrics", basic(user, password))
            assert status == 401, (user, password)
            assert "memwatch_" not in body

        assert get(url + "/metrics", {"Authorization": "Basic !!notbase64"})[0] == 401
        assert get(url + "/metrics", {"Authorization": "Bearer s3cret-scrape"})[0] == 401
        assert get(url + "/health")[0] == 401  # every path is behind the login

        for _ in range(2):  # the second time from the verified-credentials cache
            status, headers, body = get(url + "/metrics", basic("prom", "s3cret-scrape"))
            assert status == 200
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert sample(parse(body), "memwatch_store_memories", store="oc") == store.active
        # a cached success does not let a wrong password in
        assert get(url + "/metrics", basic("prom", "s3cret-scrapf"))[0] == 401


def test_basic_auth_accepts_htpasswd_2y_hashes(store: Store, prom_hash: str) -> None:
    """exporter-toolkit's docs make hashes with `htpasswd -nBC 10`, which writes $2y$."""
    web = WebConfig(basic_auth_users={"prom": prom_hash.replace("$2b$", "$2y$", 1)})
    with served(store.spec(), web) as url:
        assert get(url + "/metrics", basic("prom", "s3cret-scrape"))[0] == 200
        assert get(url + "/metrics", basic("prom", "nope"))[0] == 401


def test_tls_and_basic_auth_together(store: Store, tls_cert: tuple[Path, Path],
                                     prom_hash: str) -> None:
    cert, key = tls_cert
    web = WebConfig.model_validate({
        "tls_server_config": {"cert_file": str(cert), "key_file": str(key)},
        "basic_auth_users": {"prom": prom_hash}})
    with served(store.spec(), web) as url:
        ctx = client_context(cert)
        assert fetch(url + "/metrics", ctx)[0] == 401
        status, body = fetch(url + "/metrics", ctx, basic("prom", "s3cret-scrape"))
        assert status == 200
        assert "memwatch_up{" in body


def test_an_unknown_user_costs_what_a_known_one_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11, defect 15: an unknown user was checked against a cost-4 hash (~4 ms), a
    known one at its hash's cost (60-140 ms at cost 10-12), which told names apart. Now both
    go through bcrypt at the users' highest cost."""
    import bcrypt

    from memwatch.webconfig import BasicAuth

    known = bcrypt.hashpw(b"right", bcrypt.gensalt(6)).decode()
    auth = BasicAuth({"prom": known, "other": bcrypt.hashpw(b"x", bcrypt.gensalt(5)).decode()})
    costs: list[int] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    assert not auth.check(basic("nobody", "right")["Authorization"])
    assert not auth.check(basic("prom", "wrong")["Authorization"])
    assert auth.check(basic("prom", "right")["Authorization"])
    assert costs == [6, 6, 6]  # the unknown user at the known users' highest cost
