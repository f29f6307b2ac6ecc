"""Producers: everything that publishes articles to the ``articles`` topic."""
