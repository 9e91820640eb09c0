"""ISRC normalisation and validation (python-stdnum underneath), including property-based checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from isrcdb.errors import InvalidIsrc
from isrcdb.isrc import format_isrc, is_valid, normalise, validate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("USRC17607839", "USRC17607839"),
        ("us-rc1-76-07839", "USRC17607839"),
        (" US RC1 76 07839 ", "USRC17607839"),
        ("QZ7XS2400012", "QZ7XS2400012"),  # distributor agency prefix, unknown to stdnum < 2.0
        ("qzj842400387", "QZJ842400387"),
        ("\ufeffGBAYE0300047", "GBAYE0300047"),
    ],
)
def test_valid_codes_are_normalised(raw: str, expected: str) -> None:
    assert validate(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "it is empty"),
        ("USRC1760783", "it has 11 characters once hyphens and spaces are removed, not 12"),
        ("USRC176078390", "it has 13 characters once hyphens and spaces are removed, not 12"),
        ("XX1234567890", "unknown country or agency prefix 'XX'"),
        ("USRC1760783A", "wrong format: expected 2 letters, 3 letters or digits, then 7 digits (CC-XXX-YY-NNNNN)"),
        ("U$RC17607839", "wrong format: expected 2 letters, 3 letters or digits, then 7 digits (CC-XXX-YY-NNNNN)"),
    ],
)
def test_invalid_codes_name_the_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIsrc) as caught:
        validate(raw)
    assert caught.value.reason == reason
    assert reason in str(caught.value)


def test_format_gives_the_hyphenated_form() -> None:
    assert format_isrc("USRC17607839") == "US-RC1-76-07839"


@given(st.text())
def test_normalising_twice_changes_nothing(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


@given(st.text())
def test_validation_never_crashes_and_accepts_only_twelve_character_codes(text: str) -> None:
    try:
        code = validate(text)
    except InvalidIsrc:
        assert not is_valid(text)
    else:
        assert len(code) == 12 and code == normalise(code) and code.isalnum() and code.isascii()
        assert validate(code) == code


@given(
    st.sampled_from(["US", "GB", "QZ", "QM", "JP", "FR", "DE"]),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=3, max_size=3),
    st.integers(0, 99),
    st.integers(0, 99999),
)
def test_well_formed_codes_are_accepted_with_or_without_hyphens(
    prefix: str, registrant: str, year: int, n: int
) -> None:
    code = f"{prefix}{registrant}{year:02d}{n:05d}"
    assert validate(code) == code
    assert validate(f"{prefix}-{registrant.lower()}-{year:02d}-{n:05d}") == code


@given(st.text(alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789qz- \n\t\u00a0"), max_size=16))
def test_the_fast_path_agrees_with_stdnum(text: str) -> None:
    from stdnum import isrc as stdnum_isrc

    assert is_valid(text) == stdnum_isrc.is_valid(normalise(text))


def test_the_fast_path_prefixes_are_stdnums() -> None:
    from stdnum import isrc as stdnum_isrc

    from isrcdb.isrc import PREFIXES

    assert stdnum_isrc._country_codes == PREFIXES


@pytest.mark.parametrize("prefix", ["US", "GB", "QZ", "QM", "ZZ", "CP", "DG", "XX", "AA", "QQ"])
def test_prefixes_are_accepted_exactly_when_stdnum_accepts_them(prefix: str) -> None:
    from stdnum import isrc as stdnum_isrc

    assert is_valid(f"{prefix}ABC2400001") == stdnum_isrc.is_valid(f"{prefix}ABC2400001")
