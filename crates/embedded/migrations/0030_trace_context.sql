-- Traces across the queues (issue 13): the W3C trace context a message was sent in, so that the
-- check (or delivery) it asks for joins the trace of the request that queued it. NULL: none.

ALTER TABLE queue_messages ADD COLUMN traceparent TEXT;
ALTER TABLE queue_messages ADD COLUMN tracestate TEXT;
ALTER TABLE delivery_messages ADD COLUMN traceparent TEXT;
ALTER TABLE delivery_messages ADD COLUMN tracestate TEXT;
