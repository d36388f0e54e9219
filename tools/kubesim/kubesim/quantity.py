"""Resource quantities (k8s.io/apimachinery/pkg/api/resource), parsed and printed as the API server does.

The API server accepts "1Gi", "500m", "1e3", 2, 0.5 ... and answers every quantity in its canonical form
(`Quantity.String()`): "1024Mi" comes back as "1Gi", "1000m" as "1", 0.5 as "500m". A test double that
echoes the input instead would make our modules see changes a real cluster never reports, so both the
parser (for validation) and the printer (for canonical output) live here.

Reference: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
and quantity.go / suffix.go / amount.go in k8s.io/apimachinery/pkg/api/resource.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, localcontext
from fractions import Fraction

# The exact text of resource.ErrFormatWrong and resource.ErrSuffix.
QUANTITY_REGEX_TEXT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{QUANTITY_REGEX_TEXT}'"
ERR_SUFFIX = "unable to parse quantity's suffix"

_NUMBER = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {exp: suffix for suffix, exp in _DECIMAL.items()}
_BINARY_BY_EXP = {exp: suffix for suffix, exp in _BINARY.items()}

BINARY_SI = "BinarySI"
DECIMAL_SI = "DecimalSI"
DECIMAL_EXPONENT = "DecimalExponent"


class QuantityError(ValueError):
    """A string that is not a quantity; str() is the API server's message."""


def parse(text: str | int | float) -> tuple[Fraction, str]:
    """Parse a quantity into (exact value, format). Raises QuantityError with the real message."""
    if isinstance(text, bool):
        raise QuantityError(ERR_FORMAT_WRONG)
    if isinstance(text, int):
        return Fraction(text), DECIMAL_SI
    if isinstance(text, float):
        # JSON numbers decode through their text form in Go; repr() is the closest we have.
        text = repr(text)
    if not isinstance(text, str):
        raise QuantityError(ERR_FORMAT_WRONG)
    if not text:
        raise QuantityError(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    match = _NUMBER.match(text)
    if not match or not re.fullmatch(QUANTITY_REGEX_TEXT, text):
        raise QuantityError(ERR_FORMAT_WRONG)
    sign, whole, frac, suffix = match.groups()
    if not whole and not frac:
        raise QuantityError(ERR_FORMAT_WRONG)
    value = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    if sign == "-":
        value = -value
    base, exponent, fmt = _parse_suffix(suffix)
    return value * Fraction(base) ** exponent, fmt


def _parse_suffix(suffix: str) -> tuple[int, int, str]:
    if suffix in _BINARY:
        return 2, _BINARY[suffix], BINARY_SI
    if suffix in _DECIMAL:
        return 10, _DECIMAL[suffix], DECIMAL_SI
    exp = re.fullmatch(r"[eE]([-+]?[0-9]+)", suffix)
    if exp:
        return 10, int(exp.group(1)), DECIMAL_EXPONENT
    raise QuantityError(ERR_SUFFIX)


def is_valid(text: object) -> bool:
    try:
        parse(text)  # type: ignore[arg-type]
    except QuantityError:
        return False
    return True


def value_of(text: str | int | float) -> Fraction:
    return parse(text)[0]


def round_up_milli(value: Fraction) -> Fraction:
    """SetDefaults_ResourceList: values are rounded up to milli precision (pkg/apis/core/v1/defaults.go)."""
    scaled = value * 1000
    if scaled.denominator == 1:
        return value
    return Fraction(-((-scaled.numerator) // scaled.denominator), 1000)


def canonical(text: str | int | float, *, milli: bool = False) -> str:
    """The API server's canonical string for a quantity (Quantity.String / CanonicalizeBytes)."""
    value, fmt = parse(text)
    if milli:
        value = round_up_milli(value)
    return format_quantity(value, fmt)


def format_quantity(value: Fraction, fmt: str) -> str:
    if value == 0:
        return "0"
    if fmt == BINARY_SI:
        # Small or fractional binary values are shown as DecimalSI "to avoid rounding and confusion".
        if -1024 < value < 1024 or value.denominator != 1:
            fmt = DECIMAL_SI
        else:
            return _format_binary(int(value))
    return _format_decimal(value, fmt)


def _format_binary(number: int) -> str:
    exponent = 0
    while number % 1024 == 0 and exponent < 60:
        number //= 1024
        exponent += 10
    return f"{number}{_BINARY_BY_EXP.get(exponent, '')}"


def _format_decimal(value: Fraction, fmt: str) -> str:
    mantissa, exponent = _decimal_parts(value)
    # The exponent is brought to a multiple of 3 by growing the mantissa (AsCanonicalBytes).
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if fmt == DECIMAL_EXPONENT:
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    if exponent in _DECIMAL_BY_EXP:
        return f"{mantissa}{_DECIMAL_BY_EXP[exponent]}"
    return f"{mantissa}e{exponent}"


def _decimal_parts(value: Fraction) -> tuple[int, int]:
    """(mantissa, exponent) with no trailing zeros in the mantissa; values below 1n round up like inf.Dec."""
    exponent = 0
    if value.denominator != 1:
        with localcontext() as ctx:
            ctx.prec = 60
            ctx.rounding = ROUND_CEILING
            dec = Decimal(value.numerator) / Decimal(value.denominator)
            # quantities carry at most nano precision (resource.Quantity rounds up beyond it)
            dec = dec.quantize(Decimal("1e-9"), rounding=ROUND_CEILING)
        sign, digits, exp = dec.as_tuple()
        number = int("".join(map(str, digits)) or "0")
        number = -number if sign else number
        exponent = int(exp)
    else:
        number = value.numerator
    if number == 0:
        return 0, 0
    while number % 10 == 0:
        number //= 10
        exponent += 1
    return number, exponent


__all__ = [
    "ERR_FORMAT_WRONG",
    "ERR_SUFFIX",
    "QuantityError",
    "canonical",
    "format_quantity",
    "is_valid",
    "parse",
    "round_up_milli",
    "value_of",
]
