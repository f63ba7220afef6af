"""A person's time zone: guessed from the phone number on first contact (its area's one zone by `phonenumbers`'
data, +1 212 → America/New_York; else the zone of a country that keeps one), or told ("timezone Europe/Paris",
"my time zone is Tokyo")."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from phonenumbers import timezone as number_zones

# Calling code → the zone of countries that keep one (or nearly: Spain's mobiles may be in the Canaries), for
# numbers whose area `phonenumbers` does not place in one zone (mobiles, unassigned test ranges). Countries
# spanning several zones (+1 North America, +7 Russia, +55 Brazil, +61 Australia, +52 Mexico, +62 Indonesia) are
# left out: there only the area decides, else the person keeps the default and is asked. Longest codes first.
COUNTRY_ZONES: dict[str, str] = {
    "20": "Africa/Cairo",
    "27": "Africa/Johannesburg",
    "30": "Europe/Athens",
    "31": "Europe/Amsterdam",
    "32": "Europe/Brussels",
    "33": "Europe/Paris",
    "34": "Europe/Madrid",
    "351": "Europe/Lisbon",
    "353": "Europe/Dublin",
    "354": "Atlantic/Reykjavik",
    "358": "Europe/Helsinki",
    "36": "Europe/Budapest",
    "39": "Europe/Rome",
    "40": "Europe/Bucharest",
    "41": "Europe/Zurich",
    "420": "Europe/Prague",
    "43": "Europe/Vienna",
    "44": "Europe/London",
    "45": "Europe/Copenhagen",
    "46": "Europe/Stockholm",
    "47": "Europe/Oslo",
    "48": "Europe/Warsaw",
    "49": "Europe/Berlin",
    "51": "America/Lima",
    "54": "America/Argentina/Buenos_Aires",
    "56": "America/Santiago",
    "57": "America/Bogota",
    "58": "America/Caracas",
    "60": "Asia/Kuala_Lumpur",
    "63": "Asia/Manila",
    "64": "Pacific/Auckland",
    "65": "Asia/Singapore",
    "66": "Asia/Bangkok",
    "676": "Pacific/Tongatapu",
    "679": "Pacific/Fiji",
    "81": "Asia/Tokyo",
    "82": "Asia/Seoul",
    "84": "Asia/Ho_Chi_Minh",
    "852": "Asia/Hong_Kong",
    "86": "Asia/Shanghai",
    "90": "Europe/Istanbul",
    "91": "Asia/Kolkata",
    "92": "Asia/Karachi",
    "94": "Asia/Colombo",
    "880": "Asia/Dhaka",
    "886": "Asia/Taipei",
    "966": "Asia/Riyadh",
    "971": "Asia/Dubai",
    "972": "Asia/Jerusalem",
    "234": "Africa/Lagos",
    "254": "Africa/Nairobi",
    "212": "Africa/Casablanca",
}
_CODES = sorted(COUNTRY_ZONES, key=len, reverse=True)
_COMMAND = re.compile(
    r"^(?:set\s+)?(?:my\s+)?(?:time\s*zone|tz)(?:\s+is|\s*:|\s*=|\s+to)?\s+(?P<zone>[a-z0-9_/+\- ]+?)[.!]?$"
)
_ASKED = re.compile(r"^(?:what(?:'s| is) my time\s*zone|which time\s*zone|time\s*zone\??)$")


@lru_cache(maxsize=4096)  # asked for every inbound message (a new person's zone) and by the zone question
def zone_for_phone(phone: str) -> str | None:
    """The number's zone when its area has one ('+1 212...' → America/New_York), else that of its country when
    the country keeps one ('+33 6...' → Europe/Paris), else None ('+1 555...', an Australian mobile)."""
    digits = phone.removeprefix("whatsapp:").lstrip("+")
    if not digits.isdigit():
        return None
    if area := _area_zone(digits):
        return area
    return next((COUNTRY_ZONES[code] for code in _CODES if digits.startswith(code)), None)


def _area_zone(digits: str) -> str | None:
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    zones = [z for z in number_zones.time_zones_for_number(number) if z != number_zones.UNKNOWN_TIMEZONE]
    if len(zones) != 1:
        return None
    zone = _RENAMED.get(zones[0], zones[0])
    return zone if _known(zone) else None


# phonenumbers' old spellings of zones tzdata has renamed since (it keeps them only as links): shown as they are now
_RENAMED = {
    "America/Buenos_Aires": "America/Argentina/Buenos_Aires",
    "America/Godthab": "America/Nuuk",
    "Asia/Calcutta": "Asia/Kolkata",
    "Asia/Katmandu": "Asia/Kathmandu",
    "Asia/Rangoon": "Asia/Yangon",
    "Atlantic/Faeroe": "Atlantic/Faroe",
    "Pacific/Enderbury": "Pacific/Kanton",
    "Pacific/Ponape": "Pacific/Pohnpei",
    "Pacific/Truk": "Pacific/Chuuk",
}


def _known(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (KeyError, ValueError):
        return False
    return True


@cache
def _by_name() -> dict[str, str]:
    """'europe/paris' → 'Europe/Paris', and each unique city: 'paris' → 'Europe/Paris', 'new york' → ...."""
    names = {zone.lower(): zone for zone in available_timezones() if "/" in zone or zone == "UTC"}
    cities: dict[str, set[str]] = {}
    for zone in list(names.values()):
        if zone.startswith(("Etc/", "SystemV/", "US/")) or zone == "UTC":
            continue
        cities.setdefault(zone.rsplit("/", 1)[-1].lower().replace("_", " "), set()).add(zone)
    for city, zones in cities.items():
        if len(zones) == 1:
            names.setdefault(city, next(iter(zones)))
    names["utc"] = "UTC"
    return names


def find_zone(text: str) -> str | None:
    """The IANA zone named by `text` ('Europe/Paris', 'europe/paris', 'Tokyo', 'new york'), or None."""
    key = re.sub(r"\s+", " ", text.strip().lower())
    return _by_name().get(key) or _by_name().get(key.replace(" ", "_"))


def parse_zone_command(body: str) -> str | None:
    """What a time zone command names: the zone text, '' for a question about it, None when it is no such
    command ('timezone Europe/Paris' → 'Europe/Paris', 'my time zone is Tokyo' → 'Tokyo', 'timezone?' → '')."""
    text = re.sub(r"\s+", " ", body.strip().lower().replace("’", "'"))
    if _ASKED.match(text):
        return ""
    m = _COMMAND.match(text)
    return m["zone"].strip() if m else None


def check_zone(name: str) -> ZoneInfo:
    """The zone, or ValueError naming what was wrong."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
