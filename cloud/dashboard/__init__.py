"""The plant-floor alert dashboard: web views, live alert feed, operator actions, JSON API."""
