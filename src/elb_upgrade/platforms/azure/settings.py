"""The azure platform's settings: where they come from and what a missing one says.

Precedence: `AppSpec.settings` (environment > `.env.local` > `.env`, then the config's
`[platform]` table) first; `azd env get-values` only fills what is still missing, and runs
only when `azd` is on PATH and something is missing (it takes a second or two).

azd's own output names are understood: `AZURE_CONTAINER_REGISTRY_ENDPOINT` (the login
server), `SERVICE_<NAME>_NAME` (the Container App of azd service <NAME>) and
`SERVICE_<NAME>_IMAGE_NAME` (the image azd deployed, whose host is the login server).
With several azd services, `AZD_SERVICE_NAME` says which one is the app.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from elb_upgrade import dotenv
from elb_upgrade.errors import ConfigError, PlatformUnavailable

REQUIRED = ("AZURE_RESOURCE_GROUP", "CONTAINER_APP_NAME")
REGISTRY = ("ACR_NAME", "ACR_LOGIN_SERVER", "AZURE_CONTAINER_REGISTRY_ENDPOINT")
OPTIONAL = ("AZURE_SUBSCRIPTION_ID", "CONTAINER_APP_FQDN")
_SERVICE = re.compile(r"SERVICE_(?!.*_IMAGE_NAME\Z)([A-Z0-9_]+?)_NAME\Z")
DEFAULT_ARM_URL = "https://management.azure.com"
AZD_TIMEOUT = 30.0

Runner = Callable[[list[str], float], str]
"""Runs a command (argv, timeout) and returns its stdout; raises OSError/CalledProcessError."""


def run_command(argv: list[str], timeout: float) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)
    return done.stdout


@dataclass(frozen=True)
class AzureSettings:
    """Everything the platform reads, resolved once per run."""

    values: Mapping[str, str]
    sources: Mapping[str, str] = field(default_factory=dict)  # name → "settings" | "azd env"
    azd_note: str = ""  # why azd did not help, for the missing-setting message

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, "").strip() or default

    def require(self, *names: str) -> None:
        """PlatformUnavailable naming every missing setting and how to set it."""
        missing = [n for n in names if not self.get(n)]
        if "CONTAINER_APP_NAME" in missing and self.app_name:
            missing.remove("CONTAINER_APP_NAME")
        if missing:
            raise PlatformUnavailable(
                f"missing Azure setting{'s' if len(missing) > 1 else ''}: {', '.join(missing)}"
                + (f" ({self.azd_note})" if self.azd_note else ""),
                hint=_fix(missing),
            )

    @property
    def resource_group(self) -> str:
        return self.get("AZURE_RESOURCE_GROUP")

    @property
    def app_name(self) -> str:
        """CONTAINER_APP_NAME, else azd's SERVICE_<NAME>_NAME (see `azd_service`)."""
        return self.get("CONTAINER_APP_NAME") or self.azd_service()[1]

    def azd_service(self) -> tuple[str, str]:
        """(service, app name) from azd's SERVICE_<NAME>_NAME; ConfigError when ambiguous."""
        services = {
            m.group(1): self.get(k) for k in self.values if (m := _SERVICE.match(k)) and self.get(k)
        }
        wanted = self.get("AZD_SERVICE_NAME").upper().replace("-", "_")
        if wanted:
            return wanted, services.get(wanted, "")
        if len(services) > 1:
            raise ConfigError(
                f"azd env names {len(services)} services ({', '.join(sorted(services))}) and "
                "CONTAINER_APP_NAME is not set",
                hint="say which is the app: AZD_SERVICE_NAME=<service> (or CONTAINER_APP_NAME)",
            )
        return next(iter(services.items()), ("", ""))

    @property
    def login_server(self) -> str:
        """ACR_LOGIN_SERVER, else azd's AZURE_CONTAINER_REGISTRY_ENDPOINT, else the host of
        SERVICE_<NAME>_IMAGE_NAME."""
        server = self.get("ACR_LOGIN_SERVER") or self.get("AZURE_CONTAINER_REGISTRY_ENDPOINT")
        if not server:
            service = self.azd_service()[0]
            image = self.get(f"SERVICE_{service}_IMAGE_NAME") if service else ""
            server = image.split("/", 1)[0] if "/" in image else ""
        return server.removeprefix("https://").rstrip("/").lower()

    @property
    def arm_url(self) -> str:
        return self.get("AZURE_RESOURCE_MANAGER_URL", DEFAULT_ARM_URL).rstrip("/")

    @property
    def ca_bundle(self) -> str | None:
        """A CA file for every Azure connection (a proxy's or a test stand-in's CA)."""
        return self.get("ELB_UPGRADE_AZURE_CA_BUNDLE") or None

    def seconds(self, name: str, default: float) -> float:
        raw = self.get(name)
        try:
            return float(raw) if raw else default
        except ValueError as exc:
            raise ConfigError(
                f"{name}={raw!r} is not a number of seconds",
                hint=f"set {name} to a number, e.g. {default:g}",
            ) from exc


def _fix(missing: list[str]) -> str:
    first = missing[0]
    return (
        f"run `azd env refresh` in the app's azd project, or export {first}=… "
        f"(or add it to .env / the config's [platform] table)"
    )


def load(settings: Mapping[str, str], run: Runner = run_command) -> AzureSettings:
    """Resolve settings; `azd env get-values` fills what the settings lack."""
    values = {k: v for k, v in settings.items() if v.strip()}
    sources = dict.fromkeys(values, "settings")
    wanted = [n for n in (*REQUIRED, *OPTIONAL) if n not in values]
    if not any(n in values for n in REGISTRY):
        wanted.append("registry")
    if "CONTAINER_APP_NAME" in wanted and any(_SERVICE.match(k) for k in values):
        wanted.remove("CONTAINER_APP_NAME")
    if not wanted:
        return AzureSettings(values, sources)
    azd_values, note = _azd_values(settings.get("PATH"), run)
    for name, value in azd_values.items():
        if name not in values and value.strip():
            values[name] = value
            sources[name] = "azd env"
    return AzureSettings(values, sources, note)


def _azd_values(path: str | None, run: Runner) -> tuple[dict[str, str], str]:
    azd = shutil.which("azd", path=path)
    if azd is None:
        return {}, "azd is not on PATH"
    try:
        out = run([azd, "env", "get-values"], AZD_TIMEOUT)
    except subprocess.CalledProcessError as exc:
        first = (exc.stderr or exc.stdout or "").strip().splitlines()[:1]
        return {}, f"`azd env get-values` failed: {first[0] if first else exc.returncode}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {}, f"`azd env get-values` failed: {exc}"
    try:
        return dotenv.parse(out, "azd env get-values"), ""
    except ConfigError as exc:
        return {}, f"cannot parse `azd env get-values`: {exc.message}"


def azd_variables(environ: Mapping[str, str], run: Runner = run_command) -> dict[str, str]:
    """`azd env get-values` as variables for `${VAR}` in the config (empty without azd)."""
    values, _note = _azd_values(environ.get("PATH"), run)
    return values
