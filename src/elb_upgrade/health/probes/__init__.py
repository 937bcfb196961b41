"""Built-in probes, one module per dependency kind; each factory returns a `Probe`.

Each module imports its SDK at the top, so import a factory only when you use it (the
package `elb_upgrade.health` loads them lazily). Every factory follows the same rules:
one long-lived client built at factory time, SDK retries off, I/O timeouts no longer
than the probe's timeout, and `skipped` with a reason when the dependency is not
configured (so a local run without it still answers 200).
"""
