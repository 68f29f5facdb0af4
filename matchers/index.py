"""In-memory watchlist indexes: built once, searched many times, saved and memory-mapped.

Both indexes hold templates keyed by a ``template_id`` and belonging to a ``subject_id`` (several
templates per subject: photos, impressions, fingers). ``search`` returns at most ``k`` ``Match``
objects, one per subject (its best template), best first. Persistence:
``index.save(directory)`` and ``Index.load(directory, mmap=True)``.

- ``FaceIndex`` (matchers/face_index.py): score = cosine similarity of unit SFace embeddings.
- ``FingerprintIndex`` (matchers/fingerprint_index.py): score = MCC LSS-R similarity in [0, 1]
  (it replaced the first pair-histogram + bozorth3 search, whose scores were bozorth3 points).
"""

from __future__ import annotations

from matchers.face_index import FaceIndex
from matchers.fingerprint_index import FingerprintIndex
from matchers.index_common import Match

__all__ = ["FaceIndex", "FingerprintIndex", "Match"]
