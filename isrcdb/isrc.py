"""The ISRC value: normalise, validate, format.

Validation follows python-stdnum's rules (>= 2.0, which knows agency prefixes such as QZ and QM): 12 characters,
``CC-XXX-YY-NNNNN``, and a country or agency prefix from stdnum's list. A well-formed code is accepted on a fast
path that uses a copy of that list, because importing stdnum costs about 25 ms (its utility module imports ``ssl``
and ``pydoc``), paid by every cached lookup. Anything the fast path does not accept goes to stdnum itself, whose
verdict and reason are final. ``tests/test_isrc.py`` checks that the copy equals stdnum's list and that the two
paths agree.
"""

from __future__ import annotations

import re

from isrcdb.errors import InvalidIsrc

_STRIP = str.maketrans("", "", "- \t\u00a0\ufeff")

PREFIXES: frozenset[str] = frozenset(
    {
        "AD",
        "AE",
        "AF",
        "AG",
        "AI",
        "AL",
        "AM",
        "AN",
        "AO",
        "AQ",
        "AR",
        "AS",
        "AT",
        "AU",
        "AW",
        "AX",
        "AZ",
        "BA",
        "BB",
        "BC",
        "BD",
        "BE",
        "BF",
        "BG",
        "BH",
        "BI",
        "BJ",
        "BK",
        "BL",
        "BM",
        "BN",
        "BO",
        "BP",
        "BQ",
        "BR",
        "BS",
        "BT",
        "BV",
        "BW",
        "BX",
        "BY",
        "BZ",
        "CA",
        "CB",
        "CC",
        "CD",
        "CF",
        "CG",
        "CH",
        "CI",
        "CK",
        "CL",
        "CM",
        "CN",
        "CO",
        "CP",
        "CR",
        "CS",
        "CU",
        "CV",
        "CW",
        "CX",
        "CY",
        "CZ",
        "DE",
        "DG",
        "DJ",
        "DK",
        "DM",
        "DO",
        "DZ",
        "EC",
        "EE",
        "EG",
        "EH",
        "ER",
        "ES",
        "ET",
        "FI",
        "FJ",
        "FK",
        "FM",
        "FO",
        "FR",
        "FX",
        "GA",
        "GB",
        "GD",
        "GE",
        "GF",
        "GG",
        "GH",
        "GI",
        "GL",
        "GM",
        "GN",
        "GP",
        "GQ",
        "GR",
        "GS",
        "GT",
        "GU",
        "GW",
        "GX",
        "GY",
        "HK",
        "HM",
        "HN",
        "HR",
        "HT",
        "HU",
        "ID",
        "IE",
        "IL",
        "IM",
        "IN",
        "IO",
        "IQ",
        "IR",
        "IS",
        "IT",
        "JE",
        "JM",
        "JO",
        "JP",
        "KE",
        "KG",
        "KH",
        "KI",
        "KM",
        "KN",
        "KP",
        "KR",
        "KS",
        "KW",
        "KY",
        "KZ",
        "LA",
        "LB",
        "LC",
        "LI",
        "LK",
        "LR",
        "LS",
        "LT",
        "LU",
        "LV",
        "LY",
        "MA",
        "MC",
        "MD",
        "ME",
        "MF",
        "MG",
        "MH",
        "MK",
        "ML",
        "MM",
        "MN",
        "MO",
        "MP",
        "MQ",
        "MR",
        "MS",
        "MT",
        "MU",
        "MV",
        "MW",
        "MX",
        "MY",
        "MZ",
        "NA",
        "NC",
        "NE",
        "NF",
        "NG",
        "NI",
        "NL",
        "NO",
        "NP",
        "NR",
        "NU",
        "NZ",
        "OM",
        "PA",
        "PE",
        "PF",
        "PG",
        "PH",
        "PK",
        "PL",
        "PM",
        "PN",
        "PR",
        "PS",
        "PT",
        "PW",
        "PY",
        "QA",
        "QM",
        "QN",
        "QT",
        "QZ",
        "RE",
        "RO",
        "RS",
        "RU",
        "RW",
        "SA",
        "SB",
        "SC",
        "SD",
        "SE",
        "SG",
        "SH",
        "SI",
        "SJ",
        "SK",
        "SL",
        "SM",
        "SN",
        "SO",
        "SR",
        "SS",
        "ST",
        "SV",
        "SX",
        "SY",
        "SZ",
        "TC",
        "TD",
        "TF",
        "TG",
        "TH",
        "TJ",
        "TK",
        "TL",
        "TM",
        "TN",
        "TO",
        "TR",
        "TT",
        "TV",
        "TW",
        "TZ",
        "UA",
        "UG",
        "UK",
        "UM",
        "US",
        "UY",
        "UZ",
        "VA",
        "VC",
        "VE",
        "VG",
        "VI",
        "VN",
        "VU",
        "WF",
        "WS",
        "XK",
        "YE",
        "YT",
        "YU",
        "ZA",
        "ZB",
        "ZM",
        "ZW",
        "ZZ",
    }
)
"""python-stdnum's ISRC country and agency prefixes (``stdnum.isrc._country_codes``, python-stdnum 2.x)."""

_SHAPE = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")


def normalise(code: str) -> str:
    """Return ``code`` without hyphens or white space, upper-cased. Normalising twice changes nothing."""
    return code.translate(_STRIP).upper()


def validate(code: str) -> str:
    """Return the normalised ISRC, or raise :class:`InvalidIsrc` naming the reason."""
    value = normalise(code)
    if value[:2] in PREFIXES and _SHAPE.fullmatch(value):
        return value
    if not value:
        raise InvalidIsrc(code, "it is empty")
    from stdnum import isrc as stdnum_isrc
    from stdnum.exceptions import InvalidComponent, InvalidFormat, InvalidLength, ValidationError

    try:
        return str(stdnum_isrc.validate(value))
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
    value = validate(code)
    return f"{value[:2]}-{value[2:5]}-{value[5:7]}-{value[7:]}"
