"""`elb-upgrade report`: the deploy history as charts and the DORA metrics.

`data.gather` streams the history once into a `ReportData`; `html.render` (plotly, one
self-contained file) and `markdown.render` (GitHub-flavoured) format it. The metrics
themselves are `elb_upgrade.history.dora`.
"""
