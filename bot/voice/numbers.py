"""Spoken numbers → digits, so a transcript reads like a typed message: "one hundred and fifty grams" → "150 grams",
"two eggs" → "2 eggs", "one and a half cups" → "1.5 cups". "a"/"an" and "half a" stay words (typed meals read
them); everything else is left as it was said."""

from __future__ import annotations

import re

UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
SCALES = {"hundred": 100, "thousand": 1000}
NUMBER_WORDS = (*UNITS, *TENS, *SCALES)
_FRACTIONS = {("and", "a", "half"): 0.5, ("and", "a", "quarter"): 0.25}


def _number_at(words: list[str], i: int, after_a: bool = False) -> tuple[float, int] | None:
    """The number spoken from words[i] on, and how many words it took; None when none starts there. `after_a`:
    words[i - 1] is "a" ("a hundred")."""
    total, current, j, seen = 0, 0, i, False
    while j < len(words):
        word = words[j]
        if word in UNITS and current % 10 == 0:
            if current % 100 and current % 10 == 0 and UNITS[word] >= 10:
                break  # "twenty twelve" is two numbers
            current += UNITS[word]
        elif word in TENS and current % 100 == 0:
            current += TENS[word]
        elif word in SCALES and (seen or after_a):
            scale = SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total, current = total + max(current, 1) * scale, 0
        elif word == "and" and seen and current >= 100 and j + 1 < len(words) and words[j + 1] in (*UNITS, *TENS):
            pass  # "one hundred and fifty"
        else:
            break
        seen = True
        j += 1
    if not seen:
        return None
    value: float = total + current
    if tuple(words[j : j + 3]) in _FRACTIONS:
        value += _FRACTIONS[tuple(words[j : j + 3])]
        j += 3
    return value, j - i


def _digits(value: float) -> str:
    return f"{value:g}"


def words_to_digits(text: str) -> str:
    """Every spoken number in `text` as digits; "a hundred grams" → "100 grams"."""
    words = re.sub(r"\s+", " ", text.strip().lower()).split(" ") if text.strip() else []
    out: list[str] = []
    i = 0
    while i < len(words):
        after_a = words[i] == "a" and i + 1 < len(words) and words[i + 1] in SCALES
        start = i + 1 if after_a else i
        found = _number_at(words, start, after_a)
        if found is None:
            out.append(words[i])
            i += 1
            continue
        value, used = found
        out.append(_digits(value))
        i = start + used
    return " ".join(out)


def digits_to_words(number: int) -> str:
    """123 → "one hundred twenty three" (how the language model spells the numbers it expects)."""
    if number < 0 or number >= 1_000_000:
        raise ValueError(f"{number} is out of the spoken range 0..999999")
    if number < 20:
        return next(w for w, v in UNITS.items() if v == number)
    if number < 100:
        tens = next(w for w, v in TENS.items() if v == number // 10 * 10)
        return tens + (f" {digits_to_words(number % 10)}" if number % 10 else "")
    if number < 1000:
        rest = f" {digits_to_words(number % 100)}" if number % 100 else ""
        return f"{digits_to_words(number // 100)} hundred{rest}"
    rest = f" {digits_to_words(number % 1000)}" if number % 1000 else ""
    return f"{digits_to_words(number // 1000)} thousand{rest}"
