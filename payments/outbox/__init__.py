"""The email outbox: every customer email is a row first, sent by a task, retried, never twice."""
