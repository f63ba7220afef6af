"""The work queue shared by bot replicas (BOT_WORK_QUEUE=sqs): pending-photo retries and outbox sends on SQS."""
