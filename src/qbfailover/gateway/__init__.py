"""``qbfailover serve``: a qBittorrent Web API v2 endpoint with the failover engine behind it.

Clients (Sonarr, Radarr, autobrr, qbittorrent-api scripts) log in here as they would at
qBittorrent; adds are recorded in the ledger and delivered by the engine, commands follow each
torrent to the instance that holds it, and the merged view keeps showing what an unreachable
instance last reported. Modules: ``security`` (login, sessions, bans, CSRF/Host checks),
``listing`` (torrents/info filters, 4.x/5.x state names), ``view`` (the merged view), ``adding``
(torrents/add), ``courier`` (delivers what adds recorded, in batches), ``commands`` (hash
commands, follow-ups on queued items), ``reads`` (details, categories, tags, transfer, maindata),
``service`` (shared state, instance calls), ``routes`` (the Starlette app) and ``server``
(uvicorn plus the watch loop, one process).
"""
