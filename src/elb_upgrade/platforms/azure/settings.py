"""The azure platform's settings: where they come from and what a missing one says.

Precedence: `AppSpec.settings` (environment > `.env.local` > `.env`, then the config's
`[platform]` table) first; `azd env get-values` only fills what is still missing, and runs
only when `azd` is on PATH and something is missing (it takes a second or two).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from elb_upgrade import dotenv
from elb_upgrade.errors import ConfigError, PlatformUnavailable

REQUIRED = ("AZURE_RESOURCE_GROUP", "CONTAINER_APP_NAME")
BUILD_REQUIRED = ("ACR_NAME", "ACR_LOGIN_SERVER")
OPTIONAL = ("AZURE_SUBSCRIPTION_ID", "CONTAINER_APP_FQDN")
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
        return self.get("CONTAINER_APP_NAME")

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
    wanted = [n for n in (*REQUIRED, *BUILD_REQUIRED, *OPTIONAL) if n not in values]
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
