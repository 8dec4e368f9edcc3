"""What the running program tells the world: logs, Prometheus metrics, notifications."""
