"""The chatbot's HTTP API: REST endpoints (Django REST framework) and the SSE answer stream."""
