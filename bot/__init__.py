"""Chat bot service (FastAPI + Twilio): talks to people and calls the model server over HTTP only."""
