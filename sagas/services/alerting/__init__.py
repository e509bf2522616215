"""Alerting: rules evaluated into alerts (evaluate.py, from the conditions in findings.py),
alerts delivered to webhooks and email through their own outbox (deliver.py, bodies.py).
The worker runs both on threads of their own (sagas/runtime/alerting.py)."""
