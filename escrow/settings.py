"""Bootstrap settings; replaced by the environment-driven module."""

SECRET_KEY = "bootstrap-insecure"  # noqa: S105
INSTALLED_APPS: list[str] = []
