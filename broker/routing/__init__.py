"""Received images (storage SCP index) and their routing to destinations."""
