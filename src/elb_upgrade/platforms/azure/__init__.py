"""The `azure` platform: Azure Container Apps, builds in Azure Container Registry.

    settings.py      where AZURE_* / ACR_* / CONTAINER_APP_* come from (env, .env, azd env)
    session.py       credential, subscription (source of truth: `az account show`), clients
    translate.py     azure.core exceptions → elb_upgrade.errors, with the missing role
    parity.py        storage network parity preflight
    containerapp.py  snapshot, one guarded PATCH (change token, lost-update check), revisions
    revision.py      PENDING / RUNNING / FAILED from revision + replica JSON (an allow-list)
    acr.py           `az acr build`: pack, upload, scheduleRun, follow the run log
    context.py       build-context tar.gz honouring .dockerignore (pure)
    registry.py      the registry by name (any group); image_exists; refusals; purge advice
    logs.py          `--logs`: the console log stream of one container

Importing this package loads no Azure SDK module; `AzurePlatform` does, lazily.
"""

from elb_upgrade.platforms.azure.platform import AzurePlatform

__all__ = ["AzurePlatform"]
