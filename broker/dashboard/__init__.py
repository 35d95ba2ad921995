"""Staff pages: dashboard, order timeline, queues, problems; health and metrics endpoints."""
