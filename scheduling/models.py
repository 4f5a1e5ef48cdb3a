"""Schedules, job runs, heartbeats (see the scheduling issue)."""
