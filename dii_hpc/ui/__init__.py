"""Live views of the store: `dii-hpc ui` (a read-only web server for the login node) and
`dii-hpc top` (a terminal view for SSH sessions).

    listing.py   RunsCache: an experiment's runs table kept fresh by stats, not re-reads
    series.py    metric histories for a plot: min/max per bucket, full, since a step
    live.py      what changed in a run since a client looked (polling and server-sent events)
    api.py       the JSON API (runs pages with the --filter grammar, histories, logs, listings)
    pages.py     the report's pages rendered on demand, artifacts, static files
    security.py  token, loopback binding, read-only methods, paths confined to the store
    app.py       the starlette app and uvicorn (the `ui` extra)
    topmodel.py  what `top` shows; top.py the textual app (the `tui` extra)

Nothing here writes to the store. starlette, uvicorn and textual are imported only by
app.py, pages.py and top.py, and only when a command runs.
"""
