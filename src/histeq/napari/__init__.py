"""histeq in napari: dock widgets for equalization, CLAHE and histogram matching of Image layers.

Registered with napari through the ``napari.manifest`` entry point (``napari.yaml``, npe2); install with
``pip install "histeq[napari]"`` and open them from napari's Plugins menu.  Each widget takes an Image layer of
any dtype, 2-D or 3-D, grey or RGB; CLAHE's regions can be given in the layer's own units (its ``scale``:
microns on a microscope's anisotropic voxels).  Results are new layers with the input's scale, translation,
rotation and metadata.  Large layers are computed off the interface's thread, chunk by chunk (the Dask path,
equal to the in-memory result), with progress and a Cancel button.

Only the widgets' module imports napari and Qt; ``import histeq`` imports neither.
"""
