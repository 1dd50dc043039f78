"""tally_client: a buffered, retry-forever client for Tally's meter event ingestion API."""

__version__ = "0.1.0"

from .client import Client
from .errors import BufferFullError, ClientClosedError, TallyClientError

__all__ = ["BufferFullError", "Client", "ClientClosedError", "TallyClientError", "__version__"]
