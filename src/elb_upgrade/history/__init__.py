"""Deploy history: `record` writes one line per run, `read` streams and filters them,
`stats` summarises them. The line contract is in docs/architecture.md."""
