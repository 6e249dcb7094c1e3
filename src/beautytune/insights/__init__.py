"""Consumer insight from reviews: which aspects customers talk about, and how they feel."""
