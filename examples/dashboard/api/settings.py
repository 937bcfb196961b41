"""Where the api finds its dependencies; each from the environment, with local defaults."""

import os

from azure.core.credentials import AzureNamedKeyCredential

# Azurite's well-known development account: public and documented, not a secret.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
TABLE_ENDPOINT = os.environ.get("AZURE_TABLE_ENDPOINT", "http://127.0.0.1:10002/devstoreaccount1")
TERMINAL_HEALTH_URL = os.environ.get("TERMINAL_HEALTH_URL", "http://127.0.0.1:8090/health")
QUEUE = os.environ.get("QUEUE", "jobs")  # the Redis list the worker takes jobs from


def storage_credential() -> AzureNamedKeyCredential:
    return AzureNamedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)
