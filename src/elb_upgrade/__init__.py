"""elb-upgrade: safe, locked, audited rolling upgrades for container apps."""

__version__ = "0.1.0"
