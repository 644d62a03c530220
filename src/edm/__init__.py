"""EDM: a multi-tenant CRM data service."""

__version__ = "0.1.0"

__all__ = ["__version__"]
