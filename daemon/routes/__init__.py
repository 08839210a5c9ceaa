"""The daemon's routers; daemon.app includes each under /api/v1 (system routes at the root)."""
