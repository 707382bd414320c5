"""The napari plugin: its manifest, its rules for layers, its off-thread jobs, and each widget driven in a
viewer on a 16-bit volume with anisotropic voxels, its result layer equal to the library's call."""

import subprocess
import sys
import time

import numpy as np
import pytest

import histeq


def test_import_histeq_imports_no_qt_and_no_napari():
    code = (
        "import sys, histeq, histeq.io, histeq.cli, histeq.napari; "
        "loaded = [m for m in ('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'napari', 'magicgui', 'vispy') "
        "if m in sys.modules]; assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _volume(shape=(20, 90, 110), seed=0):
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape, dtype=np.float64)
    field = 8000 + 30000 * (x / shape[2]) ** 2 + 6000 * np.cos(z / 2 + y / 17)
    return (field + rng.normal(0, 2500, shape)).clip(0, 65535).astype(np.uint16)


# -- what the widgets compute, without Qt --------------------------------------------------------------------------


def _finish(steps):
    shares = []
    while True:
        try:
            shares.append(next(steps))
        except StopIteration as done:
            return shares, done.value


@pytest.mark.parametrize("chunked_bytes", [0, 2**40])
def test_a_job_equals_the_call_in_one_piece_or_chunk_by_chunk(chunked_bytes):
    pytest.importorskip("dask")
    from histeq.napari._compute import Job

    volume = _volume()
    keywords = dict(kernel_size=20, spacing=(1.4, 0.4, 0.4), axes=(-3, -2, -1))
    shares, out = _finish(Job("clahe", volume, keywords, chunked_bytes=chunked_bytes).steps())
    np.testing.assert_array_equal(out, histeq.clahe(volume, **keywords))
    assert shares and shares == sorted(shares) and all(0 <= share <= 1 for share in shares)


def test_a_cancelled_job_stops_before_its_next_chunk():
    pytest.importorskip("dask")
    from histeq.napari._compute import Job

    volume = np.random.default_rng(1).integers(0, 65535, (64, 256, 256), dtype=np.uint16)
    job = Job("clahe", volume, {"tiles": 4}, chunked_bytes=0)
    steps = job.steps()
    next(steps)
    started = time.perf_counter()
    steps.close()  # what napari's worker.quit() does to a generator worker
    assert time.perf_counter() - started < 5  # the whole would take longer; one chunk does not
    with pytest.raises(StopIteration):
        next(steps)


def test_layer_rules():
    pytest.importorskip("napari")
    from napari.layers import Image

    from histeq.napari._layers import layer_input, result_properties

    volume = Image(_volume(), scale=(1.4, 0.4, 0.4), translate=(7, 0, -3), metadata={"source": "scope"}, name="v")
    data, layout, spacing = layer_input(volume, volume=True)
    assert data is volume.data and layout == {"axes": (-3, -2, -1)} and spacing == (1.4, 0.4, 0.4)
    assert layer_input(volume, volume=False)[1:] == ({"axes": (-2, -1)}, (0.4, 0.4))
    photo = Image(np.zeros((40, 50, 3), np.uint8), rgb=True, scale=(2, 3))
    assert layer_input(photo, volume=True)[1:] == ({"axes": (-3, -2), "channel_axis": -1}, (2.0, 3.0))
    pyramid = Image([volume.data, volume.data[:, ::2, ::2]], multiscale=True)
    assert layer_input(pyramid, volume=True)[0] is volume.data
    properties = result_properties(volume, "CLAHE")
    assert properties["name"] == "v CLAHE" and properties["metadata"] == {"source": "scope"}
    np.testing.assert_array_equal(properties["scale"], (1.4, 0.4, 0.4))
    np.testing.assert_array_equal(properties["translate"], (7, 0, -3))


# -- the plugin in napari --------------------------------------------------------------------------------------------


def test_the_manifest_validates_and_names_the_widgets():
    npe2 = pytest.importorskip("npe2")
    pytest.importorskip("napari")

    manifest = npe2.PluginManifest.from_distribution("histeq")
    manifest.validate_imports()
    widgets = {widget.display_name for widget in manifest.contributions.widgets}
    assert widgets == {"Equalize histogram", "CLAHE (adaptive equalization)", "Match histograms"}
    assert subprocess.run(["npe2", "validate", "histeq"], capture_output=True, text=True).returncode == 0


@pytest.fixture
def viewer(request):
    """napari's viewer where a display can draw it (make_napari_viewer); elsewhere (Qt off screen, which has no
    OpenGL for the canvas) napari's viewer model, which holds the layers the widgets read and add."""
    pytest.importorskip("napari")
    pytest.importorskip("pytestqt")
    import os

    if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        return request.getfixturevalue("make_napari_viewer")()
    from napari.components import ViewerModel

    request.getfixturevalue("qtbot")  # the QApplication
    return ViewerModel()


def _run(qtbot, widget):
    worker = widget.start()
    assert worker is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    return worker


def _anisotropic_layer(viewer):
    return viewer.add_image(
        _volume(), name="stack", scale=(1.4, 0.4, 0.4), translate=(2.0, 10.0, 0.0), metadata={"channel": "GFP"}
    )


def test_the_clahe_widget_adds_the_call_in_microns(viewer, qtbot):
    from histeq.napari._widgets import ClaheWidget

    layer = _anisotropic_layer(viewer)
    widget = ClaheWidget(viewer)
    widget.region.value = "size in the layer's units (scale)"
    widget.size.value = 20.0
    widget.clip_limit.value = 3.0
    _run(qtbot, widget)
    added = viewer.layers[-1]
    assert added.name == "stack CLAHE" and added.metadata == {"channel": "GFP"}
    np.testing.assert_array_equal(added.scale, layer.scale)
    np.testing.assert_array_equal(added.translate, layer.translate)
    expected = histeq.clahe(layer.data, kernel_size=20.0, spacing=(1.4, 0.4, 0.4), clip_limit=3.0)
    np.testing.assert_array_equal(added.data, expected)
    assert added.data.dtype == np.uint16
    # Regions in pixels, and each plane on its own.
    widget.region.value, widget.size.value, widget.volume.value = "size in pixels", 30.0, False
    _run(qtbot, widget)
    expected = histeq.clahe(layer.data, kernel_size=30.0, clip_limit=3.0, axes=(-2, -1))
    np.testing.assert_array_equal(viewer.layers[-1].data, expected)


def test_the_equalize_and_match_widgets_add_the_calls(viewer, qtbot):
    from histeq.napari._widgets import EqualizeWidget, MatchWidget

    layer = _anisotropic_layer(viewer)
    reference = viewer.add_image(_volume(seed=3)[:, ::-1] // 2, name="reference")
    equalize = EqualizeWidget(viewer)
    equalize.image.value = layer
    _run(qtbot, equalize)
    np.testing.assert_array_equal(viewer.layers["stack equalized"].data, histeq.equalize(layer.data))
    match = MatchWidget(viewer)
    match.image.value, match.reference.value = layer, reference
    _run(qtbot, match)
    matched = viewer.layers["stack matched"]
    np.testing.assert_array_equal(matched.data, histeq.match(layer.data, reference.data))
    np.testing.assert_array_equal(matched.scale, layer.scale)


def test_a_large_layer_goes_chunk_by_chunk_and_can_be_cancelled(viewer, qtbot, monkeypatch):
    from histeq.napari import _compute
    from histeq.napari._widgets import ClaheWidget

    monkeypatch.setattr(_compute, "CHUNKED_BYTES", 0)
    layer = _anisotropic_layer(viewer)
    widget = ClaheWidget(viewer)
    shares = []
    worker = widget.start()
    worker.yielded.connect(shares.append)
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    np.testing.assert_array_equal(viewer.layers[-1].data, histeq.clahe(layer.data))
    assert shares == sorted(shares)
    count = len(viewer.layers)
    viewer.add_image(np.random.default_rng(2).integers(0, 65535, (96, 256, 256), dtype=np.uint16), name="big")
    widget.image.value = viewer.layers["big"]
    worker = widget.start()
    assert widget.cancel.enabled and not widget.run.enabled
    widget.cancel.clicked.emit()  # the Cancel button
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    assert len(viewer.layers) == count + 1  # the input only: no result
    assert widget.run.enabled and not widget.cancel.enabled


def test_regions_larger_than_a_thin_volume_span_it(viewer, qtbot):
    from histeq.napari._widgets import ClaheWidget

    layer = _anisotropic_layer(viewer)
    widget = ClaheWidget(viewer)
    widget.region.value, widget.size.value = "size in the layer's units (scale)", 30.0  # 30 um > 20 x 1.4 um
    _run(qtbot, widget)
    np.testing.assert_array_equal(viewer.layers[-1].data, histeq.clahe(layer.data, tiles=(1, 2, 2)))


def test_a_bad_setting_is_a_notification_not_a_crash(viewer, qtbot, monkeypatch):
    from histeq.napari import _widgets

    shown = []
    monkeypatch.setattr(_widgets, "show_error", shown.append)
    _anisotropic_layer(viewer)
    widget = _widgets.ClaheWidget(viewer)
    widget.region.value, widget.size.value = "size in pixels", 0.01
    assert widget.start() is None
    assert len(shown) == 1 and "under one pixel" in str(shown[0])
    assert len(viewer.layers) == 1
