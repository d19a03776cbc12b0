"""Text for people: diffs, the terminal report, the pull-request comment."""
