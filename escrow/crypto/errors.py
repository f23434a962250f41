"""The root of every exception this package raises, so callers can catch one class."""


class CryptoError(Exception):
    """Something cryptographic failed; subclasses say what, never with secret material."""
