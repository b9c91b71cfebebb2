"""Signals the knowledge pipeline sends, so other apps react without the pipeline knowing them."""

from django.dispatch import Signal

# Sent after a source's chunks were written to or removed from the index (the transaction committed).
# Arguments: source_type, source_id, removed (bool).
source_index_changed = Signal()
