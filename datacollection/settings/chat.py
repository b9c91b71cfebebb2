"""Settings of the chatbot: LLM providers, prompts, rate limits, caches."""
