"""An SROS2 keystore for the graph, written with the `cryptography` package (sros2's CLI is not on PyPI).

Layout (the one rcl reads with ROS_SECURITY_KEYSTORE=DIR and `--ros-args --enclave /dit4dit/<node>`):
    DIR/public/{ca,identity_ca,permissions_ca}.cert.pem       one self-signed ECDSA P-256 CA for both roles
    DIR/private/{ca,identity_ca,permissions_ca}.key.pem       keep these off the robot (mode 0600)
    DIR/enclaves/governance.xml, governance.p7s               domain rule: authenticated, encrypted, access-controlled
    DIR/enclaves/dit4dit/<node>/cert.pem, key.pem             the enclave's identity (CN=/dit4dit/<node>)
                               identity_ca.cert.pem, permissions_ca.cert.pem, governance.p7s,
                               permissions.xml, permissions.p7s   what it may do (security/policy.py), signed
Signed files are S/MIME (PKCS#7, detached, text) as the DDS Security spec's builtin plugins expect.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from xml.sax.saxutils import escape

from dit4dit_ros.security.policy import GRAPH_POLICY, EnclavePolicy, dds_service_topics, dds_topic

VALIDITY_DAYS = 3650
MAX_DOMAIN = 232


@dataclass(frozen=True)
class _Ca:
    key: object
    cert: object


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)


def _pem_cert(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject_cn: str, key, issuer: _Ca | None):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)])
    start = _now() - datetime.timedelta(days=1)
    builder = (x509.CertificateBuilder().subject_name(name)
               .issuer_name(issuer.cert.subject if issuer else name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=VALIDITY_DAYS))
               .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True))
    return builder.sign(issuer.key if issuer else key, hashes.SHA256())


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _smime_sign(data: bytes, ca: _Ca) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    return (pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(ca.cert, ca.key, hashes.SHA256())
            .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.Text, pkcs7.PKCS7Options.DetachedSignature]))


def _domains(domain_id: int | None) -> str:
    if domain_id is None:
        return f"<domains><id_range><min>0</min><max>{MAX_DOMAIN}</max></id_range></domains>"
    return f"<domains><id>{int(domain_id)}</id></domains>"


def governance_xml(domain_id: int | None = None) -> str:
    """Every participant must authenticate and be allowed to join; discovery, liveliness and data encrypted;
    read and write access controlled on every topic."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <domain_access_rules>
    <domain_rule>
      {_domains(domain_id)}
      <allow_unauthenticated_participants>false</allow_unauthenticated_participants>
      <enable_join_access_control>true</enable_join_access_control>
      <discovery_protection_kind>ENCRYPT</discovery_protection_kind>
      <liveliness_protection_kind>ENCRYPT</liveliness_protection_kind>
      <rtps_protection_kind>SIGN</rtps_protection_kind>
      <topic_access_rules>
        <topic_rule>
          <topic_expression>*</topic_expression>
          <enable_discovery_protection>true</enable_discovery_protection>
          <enable_liveliness_protection>true</enable_liveliness_protection>
          <enable_read_access_control>true</enable_read_access_control>
          <enable_write_access_control>true</enable_write_access_control>
          <metadata_protection_kind>ENCRYPT</metadata_protection_kind>
          <data_protection_kind>ENCRYPT</data_protection_kind>
        </topic_rule>
      </topic_access_rules>
    </domain_rule>
  </domain_access_rules>
</dds>
"""


def _topics(names: Sequence[str]) -> str:
    return "".join(f"<topic>{escape(n)}</topic>" for n in dict.fromkeys(names))


def permissions_xml(policy: EnclavePolicy, domain_id: int | None = None) -> str:
    """The DDS permissions of one enclave: its topics, and the request/reply topics of the services it serves
    or calls; everything else is denied."""
    publish = [dds_topic(t) for t in policy.all_publish()]
    subscribe = [dds_topic(t) for t in policy.all_subscribe()]
    for service in policy.all_serve():
        request, reply = dds_service_topics(service)
        subscribe.append(request)
        publish.append(reply)
    for service in policy.all_call():
        request, reply = dds_service_topics(service)
        publish.append(request)
        subscribe.append(reply)
    start = _now() - datetime.timedelta(days=1)
    end = start + datetime.timedelta(days=VALIDITY_DAYS)
    fmt = "%Y-%m-%dT%H:%M:%S"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <permissions>
    <grant name="{escape(policy.enclave)}">
      <subject_name>CN={escape(policy.enclave)}</subject_name>
      <validity><not_before>{start.strftime(fmt)}</not_before><not_after>{end.strftime(fmt)}</not_after></validity>
      <allow_rule>
        {_domains(domain_id)}
        <publish><topics>{_topics(publish)}</topics></publish>
        <subscribe><topics>{_topics(subscribe)}</topics></subscribe>
      </allow_rule>
      <default>DENY</default>
    </grant>
  </permissions>
</dds>
"""


def create_keystore(root: str | Path, policies: Sequence[EnclavePolicy] = GRAPH_POLICY,
                    domain_id: int | None = None) -> list[Path]:
    """Write a complete keystore (CA, governance, one enclave per policy) under `root`; returns the enclave
    directories. An existing keystore is refused (its CA would be replaced and every enclave invalidated)."""
    root = Path(root)
    if (root / "public" / "ca.cert.pem").exists():
        raise FileExistsError(f"{root} already holds a keystore; choose another directory")
    ca_key = _new_key()
    ca = _Ca(ca_key, _certificate("dit4dit SROS2 CA", ca_key, None))
    for role in ("ca", "identity_ca", "permissions_ca"):
        _write(root / "public" / f"{role}.cert.pem", _pem_cert(ca.cert))
        _write(root / "private" / f"{role}.key.pem", _pem_key(ca.key), private=True)
    governance = governance_xml(domain_id).encode()
    _write(root / "enclaves" / "governance.xml", governance)
    governance_p7s = _smime_sign(governance, ca)
    _write(root / "enclaves" / "governance.p7s", governance_p7s)
    out = []
    for policy in policies:
        directory = root / "enclaves" / policy.enclave.lstrip("/")
        key = _new_key()
        _write(directory / "key.pem", _pem_key(key), private=True)
        _write(directory / "cert.pem", _pem_cert(_certificate(policy.enclave, key, ca)))
        _write(directory / "identity_ca.cert.pem", _pem_cert(ca.cert))
        _write(directory / "permissions_ca.cert.pem", _pem_cert(ca.cert))
        _write(directory / "governance.p7s", governance_p7s)
        permissions = permissions_xml(policy, domain_id).encode()
        _write(directory / "permissions.xml", permissions)
        _write(directory / "permissions.p7s", _smime_sign(permissions, ca))
        out.append(directory)
    return out
