"""Notifications: events about access (granted, revoked, …) sent to webhooks and Slack after each apply.

``events`` and ``format`` are pure; ``sinks`` posts, ``state`` remembers
what went out, ``gitfacts`` asks git who requested and approved, and
``notifier`` ties them together for ``apply`` and ``apply --watch``.
"""
