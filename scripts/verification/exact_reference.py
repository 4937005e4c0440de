"""(placeholder: filled by its issue-6 acceptance item)."""

CASES = []
