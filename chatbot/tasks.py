"""Celery tasks of the chatbot's editorial side: acting on feedback and the weekly improvement report."""

from __future__ import annotations

import smtplib
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from chatbot.feedback.report import FORMATS, improvement_report_build, improvement_report_write
from chatbot.feedback.services import feedback_act


@shared_task(
    name="chatbot.feedback_act",
    autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=5,
)
def feedback_act_task(feedback_id: int, action: str) -> list[str]:
    """Comment on / notify about the sources a thumbs-down cited; a redelivery does nothing twice."""
    return feedback_act(feedback_id, action=action)


@shared_task(name="chatbot.feedback_report_write")
def feedback_report_write_task(days: int = 30) -> list[str]:
    """The improvement report of the last `days` days, as Markdown and CSV under PRIVATE_ROOT/reports/."""

    until = timezone.now()
    report = improvement_report_build(since=until - timedelta(days=days), until=until)
    return [str(improvement_report_write(report, fmt=fmt)) for fmt in FORMATS]
