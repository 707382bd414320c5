import os

# Qt without a display: the widgets are real Qt widgets, drawn off screen.  Where a display is at hand (a desktop,
# or xvfb-run), napari's full viewer is used instead (see the viewer fixture).
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
