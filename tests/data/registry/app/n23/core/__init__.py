"""An installed edition app with several tasks."""
