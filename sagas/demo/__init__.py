"""The demo shop: the `order` saga and the tables of the services it drives."""
