"""An installed platform app with one task."""
