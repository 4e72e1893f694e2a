"""A local CA, a broker certificate for 127.0.0.1/localhost and dev passwords, made once with the openssl CLI."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.service import ServiceError

# Long enough that a dev stack never sees one expire; the CA exists only on this machine.
VALID_DAYS = 3650
KAFKA_USER = "engine"
BROKER_USER = "broker"
REDIS_USER = "engine"


@dataclass(frozen=True)
class Credentials:
    """The generated passwords of the secured stack (kept in a 0600 file in its state dir)."""

    kafka_user: str
    kafka_password: str
    broker_user: str
    broker_password: str
    redis_user: str
    redis_password: str


@dataclass(frozen=True)
class Certificates:
    """Paths of the PEM files: the client needs only ca_file."""

    ca_file: Path
    ca_key: Path
    broker_cert: Path
    broker_key: Path


def write_private(path: Path, text: str) -> None:
    """Write text to a file only its owner can read (created 0600, never readable by others in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def credentials_file(directory: Path) -> Path:
    return directory / "credentials.json"


def ensure_credentials(directory: Path) -> Credentials:
    """The passwords in directory/credentials.json, generated on first use."""
    path = credentials_file(directory)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)  # passwords, keys and the broker config live here
    if path.is_file():
        try:
            return Credentials(**json.loads(path.read_text()))
        except (ValueError, TypeError) as error:
            raise ServiceError(f"secure stack: {path} is not a credentials file ({error}); delete it") from error
    # token_urlsafe: no quotes, commas or brackets that JAAS, --add-scram or a URL would need escaped.
    credentials = Credentials(
        kafka_user=KAFKA_USER,
        kafka_password=secrets.token_urlsafe(24),
        broker_user=BROKER_USER,
        broker_password=secrets.token_urlsafe(24),
        redis_user=REDIS_USER,
        redis_password=secrets.token_urlsafe(24),
    )
    write_private(path, json.dumps(credentials.__dict__, indent=2) + "\n")
    return credentials


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl") or shutil.which("openssl", path="/usr/bin:/usr/local/bin")
    if openssl is None:
        raise ServiceError("secure stack: openssl is not installed (Debian: apt-get install openssl)")
    result = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceError(f"secure stack: openssl {args[0]} failed:\n{result.stdout}{result.stderr}")


def ensure_certificates(directory: Path) -> Certificates:
    """A CA and a broker certificate signed by it (SAN 127.0.0.1 and localhost), generated on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    certs = Certificates(
        ca_file=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        broker_cert=directory / "broker.pem",
        broker_key=directory / "broker-key.pem",
    )
    if all(path.is_file() for path in (certs.ca_file, certs.ca_key, certs.broker_cert, certs.broker_key)):
        return certs
    # PKCS#8 keys ("BEGIN PRIVATE KEY"): the only unencrypted form Kafka's PEM keystore reads.
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", certs.ca_key.name,
             cwd=directory)
    _openssl("req", "-x509", "-new", "-key", certs.ca_key.name, "-sha256", "-days", str(VALID_DAYS),
             "-subj", "/CN=decision-engine devstack CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", certs.ca_file.name, cwd=directory)
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", certs.broker_key.name,
             cwd=directory)
    _openssl("req", "-new", "-key", certs.broker_key.name, "-subj", "/CN=127.0.0.1", "-out", "broker.csr",
             cwd=directory)
    (directory / "broker.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", certs.ca_file.name, "-CAkey", certs.ca_key.name,
             "-CAcreateserial", "-days", str(VALID_DAYS), "-sha256", "-extfile", "broker.ext",
             "-out", certs.broker_cert.name, cwd=directory)
    for path in (certs.ca_key, certs.broker_key):
        os.chmod(path, 0o600)
    for leftover in ("broker.csr", "broker.ext", "ca.srl"):
        (directory / leftover).unlink(missing_ok=True)
    return certs
