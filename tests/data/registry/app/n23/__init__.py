"""The edition namespace (gyrinx-app/gyrinx: n23/)."""
