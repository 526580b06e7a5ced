"""The Super-resolve widget (:mod:`.widget`), its worker job, result layers and live preview."""
