"""The app's core tasks."""
