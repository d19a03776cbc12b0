"""GitHub: Actions annotations and summary, the REST API, CODEOWNERS."""
