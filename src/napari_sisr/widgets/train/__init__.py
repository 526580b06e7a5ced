"""The Train widget (:mod:`.widget`), its input form and the job it builds from it."""
