"""Provider-independent machinery: clock, store, scheduler, outbox, schemas, errors."""
