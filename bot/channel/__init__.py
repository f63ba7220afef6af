"""The Twilio channel: the signed webhook (`webhook`), what happens to one inbound message (`service`: dedupe,
opt-out, limits, then the photos or the coach), the REST outbox (`delivery`, `messenger`) and the retry
worker (`retry`); `answers` is what the channel itself says."""
