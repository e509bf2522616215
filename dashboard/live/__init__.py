"""Live updates: the broadcaster that publishes committed saga events, and the websocket
consumers that turn them into frames for the browser."""
