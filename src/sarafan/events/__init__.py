"""The event outbox: domain apps announce their changes, subscribers react later.

A domain module that must make a higher app act does not import it: it calls
`sarafan.events.publish(...)` inside its transaction, which writes an `OutboxEvent` row
(nothing is published if the transaction rolls back). The `dispatch_events` task hands each
event to the handlers that SARAFAN_EVENT_HANDLERS names for its type, in order per project,
at least once (README, "Events").
"""
