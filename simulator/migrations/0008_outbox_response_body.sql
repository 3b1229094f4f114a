-- What the receiver answered, so a failing delivery can be debugged from the logs (first 2,000 characters).
ALTER TABLE outbox_attempts ADD COLUMN response_body TEXT NOT NULL DEFAULT '';
