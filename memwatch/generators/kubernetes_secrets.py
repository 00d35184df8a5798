"""The secrets memwatch's own pods read, as Kubernetes references: names and keys, never values.

Every secret a spec names is either a `*_file` path or an `env:VAR` reference (an inline
one is refused here: the spec itself becomes a ConfigMap). Each becomes a `SecretRef`: a
key of a Secret the user creates (`memwatch-<store>` for a store, `memwatch-consolidator`,
`memwatch-exporter` for the exporter's web config), mounted at the path the spec reads, or
an `env` entry with `valueFrom.secretKeyRef`. `kubernetes_apps` mounts them;
`kubernetes_readme` tells the user what to create.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from memwatch.generators.alerts import GenerationError
from memwatch.secrets import passwords_in
from memwatch.spec import Spec, Store

NAME = "memwatch"
SECRET_FIELDS = ("dsn", "uri", "password")  # each with its `<field>_file` twin
# Keys of a scrape config that hold a secret inline (Prometheus's basic_auth.password,
# authorization.credentials, bearer_token, oauth2.client_secret).
_SECRET_KEYS = frozenset({"password", "credentials", "bearer_token", "client_secret"})
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")  # Kubernetes' env var names


@dataclass(frozen=True)
class SecretRef:
    """One key of a Secret, read by a pod as a file at `path` or as the variable `env`."""

    secret: str
    key: str
    where: str  # the spec key that names it, e.g. stores[2].dsn_file
    path: str | None = None
    env: str | None = None


def dns_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label (Service, volume and container names) from free text."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return re.sub(r"-{2,}", "-", name)[:limit].rstrip("-")


def store_secret(store: Store) -> str:
    return dns_name(NAME, store.name)


def _file_path(value: object, where: str) -> str:
    path = str(value)
    if not path.startswith("/"):
        raise GenerationError(f"{where}: {path!r} is not an absolute path; in Kubernetes a "
                              f"secret file is mounted where the spec says, so it needs one")
    return posixpath.normpath(path)


def _env(value: str, secret: str, key: str, where: str) -> SecretRef:
    var = value[4:]
    if not _ENV_NAME.match(var):
        raise GenerationError(f"{where}: env:{var} is not a valid Kubernetes variable name")
    return SecretRef(secret, key, where, env=var)


def _holds_secret(field: str, value: str) -> bool:
    """An inline value the ConfigMap must not carry: a password, or a DSN or URI with one."""
    if field == "password":
        return True
    return bool(passwords_in(value))


def refs_of(obj: Any, prefix: str, secret: str, fields: Iterable[str]) -> list[SecretRef]:
    """The SecretRefs of `obj`'s secret fields (each `f` with its `f_file`): key `f`."""
    out = []
    for field in fields:
        value, file = getattr(obj, field, None), getattr(obj, f"{field}_file", None)
        if file is not None:
            where = f"{prefix}.{field}_file"
            out.append(SecretRef(secret, field, where, path=_file_path(file, where)))
        elif isinstance(value, str) and value.startswith("env:"):
            out.append(_env(value, secret, field, f"{prefix}.{field}"))
        elif isinstance(value, str) and _holds_secret(field, value):
            raise GenerationError(
                f"{prefix}.{field}: a secret written into the spec; with --format kubernetes "
                f"the spec is a ConfigMap, so give it as {field}_file or env:VAR")
    return out


def shared(refs: list[SecretRef]) -> list[SecretRef]:
    """One file or variable is one value: a later reference to the same path or `env:VAR`
    reads the Secret key of the first (two stores may share a DSN file)."""
    first: dict[str, SecretRef] = {}
    out = []
    for r in refs:
        f = first.setdefault(r.path or f"env:{r.env}", r)
        out.append(r if f is r else SecretRef(f.secret, f.key, r.where, r.path, r.env))
    return out


def store_refs(spec: Spec, names: Iterable[str]) -> list[SecretRef]:
    """The secrets of the stores an exporter serves, and its web config."""
    secrets: dict[str, str] = {}
    refs: list[tuple[str | None, SecretRef]] = []  # (store, reference): None for the exporter
    for i, store in enumerate(spec.stores):
        secret = store_secret(store)
        if secrets.setdefault(secret, store.name) != store.name:
            raise GenerationError(f"stores[{i}].name: {store.name!r} and "
                                  f"{secrets[secret]!r} both make the Secret name {secret}")
        refs += [(store.name, r) for r in refs_of(store, f"stores[{i}]", secret, SECRET_FIELDS)]
    web = spec.exporter.web_config_file
    if web is not None:
        where = "exporter.web_config_file"
        refs.append((None, SecretRef(dns_name(NAME, "exporter"), "web-config.yml", where,
                                   path=_file_path(web, where))))
    wanted = {*names, None}
    return [r for (store, _), r in zip(refs, shared([r for _, r in refs]), strict=True)
            if store in wanted]


def consolidator_refs(spec: Spec) -> list[SecretRef]:
    c = spec.consolidator
    secret = dns_name(NAME, "consolidator")
    out = refs_of(c.storage, "consolidator.storage", secret, ("dsn",))
    if c.bearer_token_file is not None:
        where = "consolidator.bearer_token_file"
        out.append(SecretRef(secret, "bearer_token", where,
                             path=_file_path(c.bearer_token_file, where)))
    for i, r in enumerate(c.responses):
        if r.http is not None and r.http.bearer_token_file is not None:
            where = f"consolidator.responses[{i}].http.bearer_token_file"
            out.append(SecretRef(secret, f"response.{r.name}.bearer_token", where,
                                 path=_file_path(r.http.bearer_token_file, where)))
    return shared(out)


def check_inline(spec: Spec) -> None:
    """Refuse a spec that would put a secret into the spec ConfigMap."""
    store_refs(spec, ())
    consolidator_refs(spec)
    for i, extra in enumerate(spec.prometheus.extra_scrape_configs):
        found = _secret_key(extra)
        if found:
            raise GenerationError(
                f"prometheus.extra_scrape_configs[{i}].{found}: a secret written into the "
                f"spec; with --format kubernetes the spec is a ConfigMap, so use its *_file "
                f"form ({found}_file or credentials_file)")


def _secret_key(node: Any, path: str = "") -> str:
    if isinstance(node, dict):
        for k, v in node.items():
            here = f"{path}.{k}" if path else str(k)
            if k in _SECRET_KEYS and isinstance(v, str):
                return here
            if found := _secret_key(v, here):
                return found
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if found := _secret_key(v, f"{path}[{i}]"):
                return found
    return ""


def env_entries(refs: Iterable[SecretRef]) -> list[dict[str, Any]]:
    """`env` of a container: one entry per variable (the first reference of each wins)."""
    out: dict[str, dict[str, Any]] = {}
    for r in refs:
        if r.env is not None and r.env not in out:
            out[r.env] = {"name": r.env, "valueFrom": {"secretKeyRef": {
                "name": r.secret, "key": r.key}}}
    return list(out.values())
