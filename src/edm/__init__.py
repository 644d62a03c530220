"""EDM: a multi-tenant CRM data service, and its Python SDK (``edm.Client``)."""

__version__ = "0.1.0"

from edm import sdk  # noqa: E402  (the SDK reads __version__ for its User-Agent)
from edm.sdk import *  # noqa: E402,F403  (the SDK's public names are the package's)

__all__ = ["__version__", *sdk.__all__]
