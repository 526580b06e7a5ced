"""The Fit degradation widget (:mod:`.widget`), its preview controls and pure helpers."""
