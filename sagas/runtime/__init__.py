"""The worker process: it hosts the engine, the replies and the bulk operations of the
service layer, and the messaging the engine's decisions need (withdrawing an undelivered
command, asking a destination's circuit), so it sits above all of them."""
