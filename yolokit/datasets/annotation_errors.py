"""Errors in annotation files, reported with the file and the position.

The parsers of MMDetection's datasets raise ``json``'s and ``ElementTree``'s
errors, which give a line and column but not the file. The errors here
subclass those, so existing handlers keep catching them.
"""
import difflib
import json
import xml.etree.ElementTree as ET
from typing import Optional, Sequence

# Characters of the offending line shown on each side of the error.
_CONTEXT_CHARS = 40


def _excerpt(doc: str, pos: int) -> str:
    """The text around ``pos`` on its line, with a caret under ``pos``."""
    start = max(doc.rfind('\n', 0, pos) + 1, pos - _CONTEXT_CHARS)
    end = doc.find('\n', pos)
    end = min(len(doc) if end < 0 else end, pos + _CONTEXT_CHARS)
    return f'    {doc[start:end]}\n    {" " * (pos - start)}^'


class AnnotationDecodeError(json.JSONDecodeError):
    """An annotation file (or one line of it) is not valid JSON.

    Args:
        filename (str): The annotation file.
        error (json.JSONDecodeError): The parser's error.
        expected (str): What the file should hold, for the message.
        lineno (int, optional): Line of the error in the file, when
            ``error.doc`` is only one line of it (``.odgt`` files).
    """

    def __init__(self,
                 filename: str,
                 error: json.JSONDecodeError,
                 expected: str,
                 lineno: Optional[int] = None):
        super().__init__(error.msg, error.doc, error.pos)
        self.filename, self.expected = filename, expected
        if lineno is not None:
            self.lineno = lineno
        self.args = (f'{filename}:{self.lineno}:{self.colno}: invalid JSON: '
                     f'{error.msg}; expected {expected}.\n'
                     f'{_excerpt(error.doc, error.pos)}', )

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):
        error = json.JSONDecodeError(self.msg, self.doc, self.pos)
        return type(self), (self.filename, error, self.expected, self.lineno)


class AnnotationParseError(ET.ParseError):
    """An XML annotation file is not well-formed.

    Args:
        filename (str): The XML file.
        error (ET.ParseError): The parser's error.
    """

    def __init__(self, filename: str, error: ET.ParseError):
        line, column = error.position
        reason = str(error).split(':')[0]
        super().__init__(f'{filename}:{line}:{column}: invalid XML: {reason}; '
                         'expected a Pascal VOC annotation '
                         '(<annotation><object>...)')
        self.code, self.position = error.code, error.position
        self.filename, self.lineno, self.offset = filename, line, column + 1

    def __str__(self) -> str:
        return self.msg

    def __reduce__(self):
        error = ET.ParseError(f'{self.msg}')
        error.code, error.position = self.code, self.position
        return type(self), (self.filename, error)


class UnknownClassesError(ValueError):
    """``metainfo['classes']`` names classes the annotation file lacks."""


def unknown_classes_message(ann_file: str, unknown: Sequence[str],
                            available: Sequence[str]) -> str:
    """Say which classes are unknown, with close matches and the choices.

    Args:
        ann_file (str): The annotation file.
        unknown (Sequence[str]): Class names it has no category for.
        available (Sequence[str]): Its category names, in file order.
    """
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        if close:
            hints.append(f'"{name}" -> {" or ".join(map(repr, close))}?')
    shown = ', '.join(map(repr, available[:10]))
    more = f', ... ({len(available)} in all)' if len(available) > 10 else ''
    return (f'metainfo["classes"] has {len(unknown)} name(s) that no category '
            f'of {ann_file} has: {list(unknown)}. Their objects would be '
            'missing from training and evaluation. ' +
            (f'Did you mean: {"; ".join(hints)} ' if hints else '') +
            f'The file\'s categories: {shown}{more}.')
