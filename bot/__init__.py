"""Chat bot service (FastAPI + Twilio): talks to people and calls the model server over HTTP only.

One sub-package per job: `channel` (Twilio webhook, replies, retries) calls `photos` (photo → meal through the
model server) and `coach` (conversation, commands, advice); both keep their data through `storage`.
`ledger` counts usage against the tier limits of `settings`; `chat_text` is what every reply shares.
`devtools` (stand-ins, simulate, demo) is for tests and people, never imported by the bot itself.
"""
