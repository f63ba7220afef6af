"""Tools for tests and people, never imported by the bot itself: LOCAL STAND-INS of the model server and
Twilio (`standins`), one signed message to a running bot (`python -m bot.devtools.simulate`), and a replayed
conversation through a live bot (`python -m bot.devtools.demo`)."""
