"""The dock widgets: an Image layer and the method's options in, a new layer out, computed by a napari worker
thread (``_compute.Job``) with a progress bar and a Cancel button.

The widgets follow napari's conventions: magicgui containers, made by the plugin manifest's commands with the
viewer napari passes them, results added with ``viewer.add_image``, errors shown as notifications.
"""

from typing import Any

import napari
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, ProgressBar, PushButton, SpinBox
from napari.layers import Image
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info

from histeq._tiles import fitted_regions
from histeq.napari._compute import Job
from histeq.napari._layers import layer_input, result_properties

#: How a CLAHE widget's region is given.
_TILES, _PIXELS, _LAYER_UNITS = "tiles", "size in pixels", "size in the layer's units (scale)"


class _MethodWidget(Container):
    """An Image layer chooser, the method's options, Run, Cancel and a progress bar."""

    function = ""
    what = ""

    def __init__(self, viewer: napari.viewer.Viewer, options: list) -> None:
        self._viewer = viewer
        self.image = ComboBox(label="image", choices=self._images)
        self.volume = CheckBox(value=True, text="3-D: a volume as one image (else each plane)")
        self.run = PushButton(text="Run")
        self.cancel = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(min=0, max=100, value=0, visible=False)
        super().__init__(widgets=[self.image, self.volume, *options, self.run, self.cancel, self.progress])
        self.worker: Any = None
        self._job: Job | None = None
        viewer.layers.events.inserted.connect(self._refresh)
        viewer.layers.events.removed.connect(self._refresh)
        viewer.layers.events.renamed.connect(self._refresh)
        self.run.changed.connect(self.start)
        self.cancel.changed.connect(self.stop)

    def _images(self, _widget: object = None) -> list:
        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, Image)]

    def _refresh(self, _event: object = None) -> None:
        self.image.reset_choices()

    def keywords(self, sizes: tuple[int, ...], spacing: tuple[float, ...]) -> dict[str, Any]:
        """The method's own keywords (besides the layout's), for an image of ``sizes`` pixels and ``spacing``
        units along its spatial axes."""
        return {}

    def start(self, _value: object = None) -> Any:
        """Start the computation on the chosen layer; its worker (None when there is nothing to compute)."""
        layer = self.image.value
        if layer is None:
            show_info("histeq: add an Image layer first")
            return None
        try:
            data, layout, spacing = layer_input(layer, self.volume.value)
            sizes = tuple(int(data.shape[axis]) for axis in layout["axes"])
            self._job = Job(self.function, data, {**layout, **self.keywords(sizes, spacing)})
        except (TypeError, ValueError) as exc:
            show_error(f"histeq: {exc}")
            return None
        worker = create_worker(self._job.steps, _start_thread=False, _ignore_errors=True)  # shown, as below
        worker.yielded.connect(self._advance)
        worker.returned.connect(lambda result: self._add(layer, result))
        worker.errored.connect(lambda exc: show_error(f"histeq: {exc}"))
        worker.finished.connect(self._finished)
        self.worker = worker
        self.run.enabled, self.cancel.enabled, self.progress.visible, self.progress.value = False, True, True, 0
        worker.start()
        return worker

    def stop(self, _value: object = None) -> None:
        """Cancel the running computation: it stops before its next chunk and adds no layer."""
        if self.worker is not None:
            self.worker.quit()

    def _advance(self, share: float) -> None:
        self.progress.value = int(100 * share)

    def _add(self, layer: Image, result: Any) -> None:
        self._viewer.add_image(result, **result_properties(layer, self.what))

    def _finished(self) -> None:
        self.run.enabled, self.cancel.enabled, self.progress.visible = True, False, False
        self.worker = None


class EqualizeWidget(_MethodWidget):
    """Histogram equalization (:func:`histeq.equalize`) of an Image layer."""

    function, what = "equalize", "equalized"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(viewer, [])


class ClaheWidget(_MethodWidget):
    """CLAHE (:func:`histeq.clahe`) of an Image layer: tiles by count, or regions by size in pixels or in the
    layer's own units (its ``scale``: a 20 µm region on anisotropic voxels)."""

    function, what = "clahe", "CLAHE"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self.region = ComboBox(label="regions", choices=[_TILES, _PIXELS, _LAYER_UNITS], value=_TILES)
        self.tiles = SpinBox(label="tiles per axis", value=8, min=1, max=1024)
        self.size = FloatSpinBox(label="region size", value=64.0, min=0.001, max=1e9, step=1.0)
        self.clip_limit = FloatSpinBox(label="clip limit", value=2.0, min=1.0, max=1e6, step=0.5)
        super().__init__(viewer, [self.region, self.tiles, self.size, self.clip_limit])

    def keywords(self, sizes: tuple[int, ...], spacing: tuple[float, ...]) -> dict[str, Any]:
        """The tiles of the chosen regions, fitted to the layer (a region larger than a thin volume's depth is
        that whole depth, as histeq's transforms fit them), and the clip limit."""
        if self.region.value == _TILES:
            tiles = fitted_regions(self.tiles.value, None, None, sizes)
        else:
            units = spacing if self.region.value == _LAYER_UNITS else None
            tiles = fitted_regions(None, self.size.value, units, sizes)
        return {"tiles": tiles, "clip_limit": self.clip_limit.value}


class MatchWidget(_MethodWidget):
    """Histogram matching (:func:`histeq.match`) of an Image layer to another Image layer's histogram."""

    function, what = "match", "matched"

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        self._viewer = viewer  # the reference's choices are read as it is made
        self.reference = ComboBox(label="reference", choices=self._images)
        super().__init__(viewer, [self.reference])

    def _refresh(self, _event: object = None) -> None:
        super()._refresh()
        self.reference.reset_choices()

    def keywords(self, sizes: tuple[int, ...], spacing: tuple[float, ...]) -> dict[str, Any]:
        reference = self.reference.value
        if reference is None:
            raise ValueError("choose a reference layer")
        return {"reference": reference.data[0] if reference.multiscale else reference.data}
