"""What the calendar wing says."""

from __future__ import annotations

from datetime import datetime

ZONE_HELP = 'Tell me your time zone like "timezone Europe/Paris" or "my time zone is Tokyo".'


ASK_ZONE = (
    'Which time zone are you in? Your city is enough ("Chicago", "Denver", "America/Phoenix"): days, totals and '
    "reminders then follow your clock."
)


def zone_set(zone: str, local_now: datetime) -> str:
    return f"Time zone set: {zone} (it's {local_now:%H:%M} on {local_now:%a %d %b} there). Days, totals and reminders now follow it."


def zone_unknown(said: str) -> str:
    return f'I don\'t know the time zone "{said}". {ZONE_HELP}'


def zone_is(zone: str, source: str | None, local_now: datetime) -> str:
    how = {"phone": " (from your number)", "person": ""}.get(source or "", " (the default)")
    return f"Your time zone: {zone}{how}, {local_now:%H:%M} there now. {ZONE_HELP}"


def calendar_link(url: str, zone: str, guessed: bool) -> str:
    lines = [
        "Your meal plan calendar (meal prep, shopping, cooking reminders, the weekly check-in):",
        url,
        "Add it to Google Calendar (Other calendars → From URL), Apple Calendar (File → New Calendar Subscription) or "
        "Outlook (Add calendar → Subscribe from web). It updates when your plan changes.",
        f"Times are in {zone}." + (f" Not right? {ZONE_HELP}" if guessed else ""),
        'Keep the link private; "stop calendar" turns it off.',
    ]
    return "\n".join(lines)


CALENDAR_STOPPED = 'Calendar link turned off: calendars subscribed to it stop updating. "calendar" makes a new one.'
CALENDAR_NOT_ON = 'There was no calendar link to turn off. "calendar" makes one.'
NO_PLAN_YET = 'First ask me for a meal plan ("plan my week"); your calendar then shows it.'


def calendar_not_in_tier(tier: str, better: str | None) -> str:
    more = f' "upgrade to {better}" to get it.' if better else ""
    return f"The meal plan calendar isn't part of the {tier} plan.{more}"


def checkin(meals: int, days: int, kcal_per_day: float | None, target: float | None) -> str:
    if not meals:
        return (
            "How did this week go? I haven't seen a meal from you this week: send a photo or type one "
            '("2 eggs and toast") and I\'ll keep count.'
        )
    average = f", about {kcal_per_day:,.0f} kcal a day on those days" if kcal_per_day is not None else ""
    goal = f" (your target: {target:,.0f})" if target else ""
    return (
        f"How did this week go? You logged {meals} meal{'s' * (meals != 1)} on {days} of 7 days{average}{goal}.\n"
        'Reply with how it felt, or "plan my week" for next week\'s plan.'
    )


def cooking(recipe: str, ready_at: str, minutes: int) -> str:
    return f'Time to cook: {recipe} ({minutes} min) for {ready_at}. "today\'s plan" shows the day.'


def plan_ready(first_dish: str | None) -> str:
    today = f" Today: {first_dish}." if first_dish else ""
    return f'Your meal plan starts today.{today} "shopping list" for the list, "calendar" for your calendar.'


GOOGLE_NOT_SET_UP = (
    'Google Calendar connection isn\'t set up here, but "calendar" gives you a link Google Calendar can subscribe to.'
)
GOOGLE_OFF = (
    'Google Calendar disconnected: I won\'t change it any more (the "Meal plan" calendar stays; delete it there).'
)
GOOGLE_NOT_ON = 'Google Calendar wasn\'t connected. "connect google calendar" connects it.'


def google_consent(url: str) -> str:
    return (
        "Open this to let me add your meal plan to a calendar of its own in your Google Calendar (I can't see or "
        f"change anything else there):\n{url}\nThe link works for 15 minutes."
    )


GOOGLE_REVOKED = (
    'Google Calendar stopped accepting our updates (access removed or expired). "connect google calendar" connects '
    'it again; your calendar link ("calendar") still works.'
)
