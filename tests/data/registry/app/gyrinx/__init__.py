"""The platform package of the test app (gyrinx-app/gyrinx: gyrinx/)."""
