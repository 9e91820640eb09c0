"""The ISRC value: normalise, validate, format.

Validation is python-stdnum's (>= 2.0, which knows agency prefixes such as QZ and QM); this module only turns its
exceptions into reasons a person can read.
"""

from __future__ import annotations

import re

from stdnum import isrc as _stdnum_isrc
from stdnum.exceptions import InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from isrcdb.errors import InvalidIsrc

_STRIP = str.maketrans("", "", "- \t\u00a0\ufeff")

# python-stdnum's own list of the country and agency prefixes it accepts, for a fast path that gives the same
# answers as ``stdnum.isrc.validate`` (a test checks the two agree) at a fraction of its cost per code.
_PREFIXES: frozenset[str] | None = (
    frozenset(_stdnum_isrc._country_codes) if isinstance(getattr(_stdnum_isrc, "_country_codes", None), set) else None
)
_SHAPE = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")


def normalise(code: str) -> str:
    """Return ``code`` without hyphens or white space, upper-cased. Normalising twice changes nothing."""
    return code.translate(_STRIP).upper()


def validate(code: str) -> str:
    """Return the normalised ISRC, or raise :class:`InvalidIsrc` naming the reason."""
    value = normalise(code)
    if _PREFIXES is not None and value[:2] in _PREFIXES and _SHAPE.fullmatch(value):
        return value
    if not value:
        raise InvalidIsrc(code, "it is empty")
    try:
        return str(_stdnum_isrc.validate(value))
    except InvalidLength:
        raise InvalidIsrc(code, f"it has {len(value)} characters once hyphens and spaces are removed, not 12") from None
    except InvalidComponent:
        raise InvalidIsrc(code, f"unknown country or agency prefix {value[:2]!r}") from None
    except InvalidFormat:
        raise InvalidIsrc(
            code, "wrong format: expected 2 letters, 3 letters or digits, then 7 digits (CC-XXX-YY-NNNNN)"
        ) from None
    except ValidationError as exc:  # any other stdnum reason
        raise InvalidIsrc(code, str(exc) or "rejected by the ISRC rules") from None


def is_valid(code: str) -> bool:
    """Whether ``code`` is a valid ISRC once normalised."""
    try:
        validate(code)
    except InvalidIsrc:
        return False
    return True


def format_isrc(code: str) -> str:
    """The hyphenated form ``CC-XXX-YY-NNNNN`` of a valid ISRC."""
    return str(_stdnum_isrc.format(validate(code)))
