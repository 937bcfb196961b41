"""`python -m elb_upgrade` runs the CLI."""

from elb_upgrade.cli.main import main

raise SystemExit(main())
