"""Admin screens of the chatbot: the feedback report, the analytics dashboard, resolving feedback and the
read-only conversation listings."""
