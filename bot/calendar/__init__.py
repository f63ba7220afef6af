"""Calendar and reminders: each person's time zone, scheduled messages (check-ins, cooking reminders, plan-ready
notices) within WhatsApp's rules and quiet hours, and the week's plan as an ICS feed."""
