"""The coach: one text message → one reply (`conversation`), read against the one table of commands
(`commands`); typed meals and the questions they need (`typed_meals`), fixes of the last meal
(`fix_last_meal`), the day's numbers and ideas (`advisor`), the tip in words (`tips`), and its texts (`wording`)."""
