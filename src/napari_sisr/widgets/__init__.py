"""napari dock widgets of napari-sisr (one widget per module).

Widgets are thin: they collect inputs, run a core generator in a background thread through
:class:`~napari_sisr.widgets._jobs.JobRunner`, and add the results as layers from the GUI
thread. Nothing is imported here, so that loading the manifest stays cheap.
"""
