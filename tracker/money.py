"""Money as the contract takes it: an amount >= 0 with at most four decimal places, exactly (never through
binary floating point), in a real ISO 4217 currency a payment is made in.

One place for both rules: conversions refuse what is not money at the door (`tracker.conversion`), and
reports refuse to be asked for a currency no conversion can be in (`tracker.reports.query`). A refusal is a
ValueError whose message names the field; the caller gives it its own kind and reason.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

import pycountry

MAX_VALUE = Decimal(10) ** 12
VALUE_PLACES = 4
CENTS_AND_BELOW = Decimal(1).scaleb(-VALUE_PLACES)
# An optional leading '-' only so that a negative amount gets its own, clearer message.
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# ISO 4217 codes that are not money a shop is paid in: XXX ("no currency"), XTS (reserved for testing), the
# precious metals (XAU gold, XAG silver, XPD palladium, XPT platinum), the European bond-market units
# (XBA-XBD), and the units of account of the IMF (XDR), the Arab Monetary Fund (XAD), the ALBA (XSU) and the
# African Development Bank (XUA). Real X-currencies stay: XAF, XOF (CFA francs), XCD, XCG, XPF. The fund codes
# (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) are kept: some are used to price goods (CLF, UYI).
NOT_MONEY = frozenset({"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XAD", "XSU",
                       "XUA"})
# Loaded once at import: pycountry parses its database lazily and we look codes up on every request.
PAYMENT_CURRENCIES = frozenset(currency.alpha_3 for currency in pycountry.currencies) - NOT_MONEY



def parse_value(raw: object) -> Decimal:
    """A money amount, exactly: a decimal string or a JSON number, never through binary floating point."""
    if isinstance(raw, bool):
        raise ValueError("value: expected a number or a decimal string, not true/false")
    if isinstance(raw, int):
        # Clamped before str(), which refuses integers of more than 4300 digits; the checks below still refuse it.
        text = str(max(-1, min(raw, int(MAX_VALUE) + 1)))
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise ValueError("value: must be a finite number")
        text = repr(raw)  # shortest round-trip form: 19.99 stays 19.99
    elif isinstance(raw, str):
        text = raw.strip()
        if not _DECIMAL.fullmatch(text):
            raise ValueError("value: expected a plain decimal number like 19.99")
    else:
        raise ValueError("value: expected a number or a decimal string")
    value = Decimal(text)
    if value < 0:
        raise ValueError("value: must not be negative (a refund's value is the amount refunded)")
    if value > MAX_VALUE:
        raise ValueError(f"value: at most {MAX_VALUE:f}")
    if value != value.quantize(CENTS_AND_BELOW):
        raise ValueError(f"value: at most {VALUE_PLACES} decimal places")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -VALUE_PLACES:
        value = value.quantize(CENTS_AND_BELOW)  # "19.990000" is 19.99 written long: keep the amount, drop the zeros
    return value.copy_abs() if value.is_zero() else value  # no "-0.0" in reports


def parse_currency(raw: object) -> str:
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if code in NOT_MONEY:
        raise ValueError(f"currency: {code} is an ISO 4217 code but not a currency a "
                                                f"payment is made in (no currency, testing, metal or unit of "
                                                f"account); use the order's real currency, like USD or EUR")
    if code not in PAYMENT_CURRENCIES:
        raise ValueError("currency: expected an ISO 4217 code like USD or EUR")
    return code
