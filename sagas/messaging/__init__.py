"""Messages between the orchestrator and participants: the transactional outbox, the
envelope every message wears, the transports that carry it, and how replies land."""
