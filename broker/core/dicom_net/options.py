"""pynetdicom's module-level switches (`pynetdicom._config`), set by name."""
from pynetdicom import _config


def quiet_identifier_logging() -> None:
    """pynetdicom decodes and pretty-prints every request and response identifier for its own log, even
    when that log level is off: pure overhead on a busy worklist."""
    _config.LOG_REQUEST_IDENTIFIERS = False
    _config.LOG_RESPONSE_IDENTIFIERS = False


def quiet_standard_handlers() -> None:
    """Its standard handlers format every PDU and DIMSE message for a debug log nobody reads in production."""
    _config.LOG_HANDLER_LEVEL = "none"


def send_stored_files_as_they_are() -> None:
    """C-STORE sends a file's encoded data set byte for byte instead of decoding and re-encoding it."""
    _config.STORE_SEND_CHUNKED_DATASET = True
