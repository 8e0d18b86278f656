"""The password policy beyond length (ASVS 5.0 6.2.4, 6.2.11): no common password, and no
password built from the account's own username or email or from the product's name.

The common list is zxcvbn's (the 30,000 most frequent passwords of public breach corpora,
shipped in the `zxcvbn` package, no network): checked case-insensitively. Composition rules
(digits, symbols, case) are deliberately absent (ASVS 6.2.5)."""

from __future__ import annotations

from zxcvbn.frequency_lists import FREQUENCY_LISTS

from backend.core.errors import ValidationFailed

COMMON_PASSWORDS: frozenset[str] = frozenset(FREQUENCY_LISTS["passwords"])
# Context-specific words (ASVS 6.1.2): a password containing one is refused.
CONTEXT_WORDS = ("phresh",)
MIN_CONTEXT_LENGTH = 3

TOO_COMMON = "This password is too common; choose a less predictable one."
HAS_CONTEXT = "The password must not contain your username, your email or the service's name."


def common_password(password: str) -> str:
    """Pydantic after-validator: refuse a password from the common list."""
    if password.lower() in COMMON_PASSWORDS:
        raise ValueError(TOO_COMMON)
    return password


def contains_context(password: str, *, username: str, email: str) -> bool:
    lowered = password.lower()
    local_part = email.lower().partition("@")[0]
    words = [*CONTEXT_WORDS, username.lower(), local_part, email.lower()]
    return any(len(word) >= MIN_CONTEXT_LENGTH and word in lowered for word in words)


def refuse_context(password: str, *, username: str, email: str, loc: list[str]) -> None:
    """422 in the validation shape, at `loc`, when the password contains the account's own
    words (checked where the account is known: change and reset)."""
    if contains_context(password, username=username, email=email):
        raise ValidationFailed([{"loc": loc, "msg": HAS_CONTEXT, "type": "value_error"}])
