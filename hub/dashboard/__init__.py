"""The hub admins' dashboard: server-rendered pages under /dashboard, signed in with hub users."""
