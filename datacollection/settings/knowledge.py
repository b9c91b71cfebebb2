"""Settings of the knowledge pipeline (extraction, chunking, uploads, indexing)."""

from __future__ import annotations

from .env import env_bool, env_float, env_int, env_list, env_str

# --- Uploads ------------------------------------------------------------------------------------
# Checked while the request body is received (knowledgebase.validation.KnowledgeUploadHandler) and
# again before anything is stored.
KNOWLEDGE_UPLOAD_MAX_BYTES = env_int("KNOWLEDGE_UPLOAD_MAX_BYTES", 25 * 1024 * 1024)
KNOWLEDGE_UPLOAD_EXTENSIONS = env_list("KNOWLEDGE_UPLOAD_EXTENSIONS", ["pdf", "docx", "txt", "md"])

# --- DOCX (a zip): limits against zip bombs ---------------------------------------------------------
KNOWLEDGE_ZIP_MAX_ENTRIES = env_int("KNOWLEDGE_ZIP_MAX_ENTRIES", 2000)
KNOWLEDGE_ZIP_MAX_TOTAL_BYTES = env_int("KNOWLEDGE_ZIP_MAX_TOTAL_BYTES", 300 * 1024 * 1024)
KNOWLEDGE_ZIP_MAX_ENTRY_BYTES = env_int("KNOWLEDGE_ZIP_MAX_ENTRY_BYTES", 100 * 1024 * 1024)
# Real DOCX XML compresses ~10-30x; 200x only happens with crafted or degenerate content.
KNOWLEDGE_ZIP_MAX_RATIO = env_float("KNOWLEDGE_ZIP_MAX_RATIO", 200.0)

# --- Images and OCR -----------------------------------------------------------------------------
KNOWLEDGE_OCR_ENABLED = env_bool("KNOWLEDGE_OCR_ENABLED", True)
KNOWLEDGE_OCR_LANGUAGES = env_str("KNOWLEDGE_OCR_LANGUAGES", "eng")  # tesseract -l, e.g. "eng+deu"
KNOWLEDGE_OCR_PAGE_TIMEOUT = env_float("KNOWLEDGE_OCR_PAGE_TIMEOUT", 60.0)  # seconds per page or image
KNOWLEDGE_OCR_DPI = env_int("KNOWLEDGE_OCR_DPI", 200)
KNOWLEDGE_OCR_MAX_PAGES = env_int("KNOWLEDGE_OCR_MAX_PAGES", 200)  # scanned pages OCR'd per document
KNOWLEDGE_OCR_MAX_IMAGES = env_int("KNOWLEDGE_OCR_MAX_IMAGES", 50)  # embedded images OCR'd per document
KNOWLEDGE_OCR_MIN_IMAGE_PIXELS = env_int(
    "KNOWLEDGE_OCR_MIN_IMAGE_PIXELS", 5_000
)  # ~70x70: bullets, icons skipped
# Scanned pages rendered and read at once, each by its own tesseract process with one thread
# (OMP_THREAD_LIMIT=1): one per core of the worker machine. Checked at start-up (knowledgebase/conf.py).
KNOWLEDGE_OCR_WORKERS = env_int("KNOWLEDGE_OCR_WORKERS", 2)
KNOWLEDGE_IMAGE_MAX_PIXELS = env_int("KNOWLEDGE_IMAGE_MAX_PIXELS", 50_000_000)  # decompression bombs

# --- Extraction sandbox ---------------------------------------------------------------------------
KNOWLEDGE_PDF_MAX_PAGES = env_int("KNOWLEDGE_PDF_MAX_PAGES", 2000)
KNOWLEDGE_EXTRACTION_TIMEOUT = env_float("KNOWLEDGE_EXTRACTION_TIMEOUT", 600.0)  # wall clock, seconds
# The structural check an upload passes before it is stored (in the request, in a sandboxed child).
KNOWLEDGE_VALIDATION_TIMEOUT = env_float("KNOWLEDGE_VALIDATION_TIMEOUT", 30.0)
KNOWLEDGE_EXTRACTION_MEMORY_MB = env_int("KNOWLEDGE_EXTRACTION_MEMORY_MB", 2048)  # address space of the child

# --- Edit views -----------------------------------------------------------------------------------
# Wagtail Panel classes appended to the edit views of knowledge pages and documents, each made with
# source_type="page" or "document": how a higher app (the chatbot's answer feedback) adds a panel there
# without knowledgebase importing it. Checked at start-up (knowledgebase/conf.py).
KNOWLEDGE_EDIT_PANELS = ["chatbot.panels.AnswerFeedbackPanel"]
