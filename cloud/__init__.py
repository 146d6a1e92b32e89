"""Cloud side: bridge, stream processing, storage and alerts."""
