"""The admin API (FastAPI): ``app.create_app`` builds it; one module per resource under ``routes``."""
