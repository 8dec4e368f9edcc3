"""The qBittorrent WebUI protocol: reply formats and 4.x/5.x dialects, and the client over httpx."""
