"""Personalization in the bot: what is learned about a person, shown, reset and used (`nutrition.personalization`)."""
