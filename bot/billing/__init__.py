"""Subscriptions with Stripe: Checkout and Portal links, the webhook, entitlements, the scheduled downgrades."""
