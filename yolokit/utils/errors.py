"""Exception types shared by yolokit's entry points.

MMYOLO checks several config keys with ``assert``, so code written against
it may catch ``AssertionError``; yolokit raises a proper exception with a
message that names the key, typed so that both ``except KeyError`` and
``except AssertionError`` still catch it.
"""


class PlainMessageKeyError(KeyError):
    """A ``KeyError`` whose message prints as written.

    ``KeyError.__str__`` shows the repr of its argument (quotes, escaped
    newlines), which garbles a sentence; yolokit's key errors explain
    themselves in sentences.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class MissingConfigKeyError(PlainMessageKeyError, AssertionError):
    """A config lacks a key it must have (MMYOLO asserts its presence)."""
