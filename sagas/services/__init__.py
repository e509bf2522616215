"""The service layer: the one place the API, the dashboard and the admin change sagas."""
