"""Fieldvisit: post-loan field inspection (贷后现场检查) service."""
