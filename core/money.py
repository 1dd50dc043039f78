"""Credits: exact decimals with 6 places. A float anywhere in a money path is a bug.

`to_credits` accepts Decimal, int and decimal strings; a float raises TypeError. A computed
charge is quantized once, from the whole quantity, with ROUND_HALF_EVEN (`quantize_credits`).

Pure: no Django, no ORM (the pricers and the burn-down engine build on it). The model fields
that store credits and rates are in core.fields.
"""

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

CREDITS_PLACES = 6
CREDITS_MAX_DIGITS = 24
CREDITS_QUANTUM = Decimal(1).scaleb(-CREDITS_PLACES)  # Decimal("0.000001")
RATE_PLACES = 15
RATE_MAX_DIGITS = 30
ZERO = Decimal("0.000000")


def refuse_float(value: object) -> None:
    if isinstance(value, float):
        raise TypeError(f"Credits must be Decimal, int or a decimal string, never float (got {value!r}).")


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Any exact number as a Decimal; floats and non-finite values refused."""
    refuse_float(value)
    if isinstance(value, bool):
        raise TypeError("A boolean is not an amount.")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a decimal number.") from exc
    else:
        raise TypeError(f"Cannot use {type(value).__name__} as an amount.")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number.")
    return result


def quantize_credits(value: Decimal | int | str) -> Decimal:
    """Round once to 6 places, half to even (the only rounding a charge gets)."""
    return to_decimal(value).quantize(CREDITS_QUANTUM, rounding=ROUND_HALF_EVEN)


def to_credits(value: Decimal | int | str) -> Decimal:
    """An amount of credits, exact: refuses values that would lose precision at 6 places."""
    decimal = to_decimal(value)
    quantized = decimal.quantize(CREDITS_QUANTUM, rounding=ROUND_HALF_EVEN)
    if quantized != decimal:
        raise ValueError(f"{value!r} has more than {CREDITS_PLACES} decimal places.")
    return quantized


def format_credits(value: Decimal | int | str) -> str:
    """The JSON form of credits: a string with exactly 6 places, e.g. "12.500000"."""
    return f"{quantize_credits(value):.{CREDITS_PLACES}f}"


CENT = Decimal("0.01")


def format_credits_for_people(value: Decimal | int | str) -> str:
    """Credits as pages and the admin show them: 2 places, thousands separators, rounded half
    up from the exact value ("1,234.57"); the exact 6 places stay in the API, CSV and a title."""
    return f"{to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"
