"""Errors raised by :class:`tally_client.Client`."""


class TallyClientError(Exception):
    """Base class of the errors this package raises (besides ValueError/TypeError for bad input)."""


class BufferFullError(TallyClientError):
    """The client already holds ``max_buffered_events`` undelivered events; the event was not taken."""


class ClientClosedError(TallyClientError):
    """The client was closed (or is closing); it takes no new events."""
