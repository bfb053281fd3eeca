"""Command-line clients of the admin API: `tracker links`, `tracker conversions`, `tracker report`.

They talk HTTP to `TRACKER_ADMIN_URL` with `TRACKER_API_KEY`, like any other API user, and
import nothing of the servers.
"""
