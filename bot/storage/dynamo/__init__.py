"""The production store: every store protocol on one DynamoDB table (`DynamoStore`; design in `store.py`)."""
