"""Pipelines: settings, the savedesk command and Prefect flows."""
