"""Service-account keys for tests: a freshly generated RSA key in Google's key-file JSON layout.

google-auth's `service_account.Credentials` signs a JWT assertion with the key and sends it to the key's
`token_uri`; pointing that at the emulator's `/vertex/token` gives real OAuth access tokens the emulator
accepts. Nothing here talks to Google. Test tooling only.
"""

from __future__ import annotations

import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TEST_PROJECT = "genai-batch-test"
KEY_SIZE = 2048


def service_account_info(
    token_uri: str, *, project_id: str = TEST_PROJECT, account: str = "batch-runner"
) -> dict[str, Any]:
    """A service-account key JSON dict with a new private key, whose tokens come from `token_uri`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode()
    email = f"{account}@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}",
        "universe_domain": "googleapis.com",
    }
