"""The task framework guide's example tasks, as plain functions.

Bodies are placeholders: the infrastructure program only needs each function's
module and name, which fix its topic, subscription and scheduler job names.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def hello_world(name: str = "world") -> str:
    """Log and return a greeting: the smallest task, for checking the pipeline."""
    message = f"Hello, {name}!"
    logger.info(message)
    return message


def send_notification(user_id: int, message: str) -> None:
    """Send one in-app notification."""
    logger.info("notify user %s: %s", user_id, message)


def cleanup_expired_sessions() -> None:
    """Delete expired sessions (scheduled daily at 03:00 UTC)."""
    logger.info("cleaning up expired sessions")


def send_daily_digest() -> None:
    """Email the daily digest (scheduled at 09:00 Europe/London)."""
    logger.info("sending daily digest")


def process_large_file(file_id: str) -> None:
    """Process one uploaded file; long-running, so it has the longest ack deadline."""
    logger.info("processing file %s", file_id)


def expensive_batch_job() -> None:
    """Nightly batch work behind the ENABLE_BATCH_JOB kill switch."""
    logger.info("running batch job")


def backfill_user_data(batch_start: int, batch_size: int = 1000) -> None:
    """Backfill one batch of user rows."""
    logger.info("backfilling users %s..%s", batch_start, batch_start + batch_size)


def sync_external_data() -> None:
    """Pull changes from the external system (every 15 minutes)."""
    logger.info("syncing external data")


def send_email(to: str, subject: str, body: str) -> None:
    """Send one email."""
    logger.info("email to %s: %s", to, subject)


def refresh_list_facts(list_id: str) -> None:
    """Recompute a list's cached facts."""
    logger.info("refreshing facts for list %s", list_id)
