"""Alerts through the API: search with the store's filters and pages, one alert with its evidence,
triage changes (status, assignee, tags, close reason, comments) one by one or in bulk, each on
record in the audit log."""
