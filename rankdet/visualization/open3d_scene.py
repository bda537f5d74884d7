"""Point clouds and 3D boxes with open3d: an interactive window, or an offscreen PNG.

open3d is optional (``pip install open3d-cpu``) and imported only here, when a scene is
built. Offscreen rendering uses open3d's Filament renderer
(``open3d.visualization.rendering.OffscreenRenderer``), which needs no display: on a
machine without a GPU it runs on Mesa's software Vulkan/EGL drivers (Debian:
``libvulkan1 mesa-vulkan-drivers libegl1 libgl1 libusb-1.0-0``). Post-processing
(anti-aliasing, tone mapping) is switched off so that a render is deterministic and
box lines keep their exact colour.

A scene is a list of :class:`BoxSet` (one colour per source: ground truth, predictions)
over one point cloud, each box drawn as its 12 edges plus a cross on its front face.
Scores are not drawn in 3D (Filament has no text in offscreen scenes); the bird's-eye
view (:mod:`rankdet.visualization.bev`) prints them.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np

from rankdet.atomic_write import atomic_write_bytes

from .box_geometry import box_line_set
from .scene_items import BoxSet, height_colours

_INSTALL_HINT = ('open3d is needed for 3D views: pip install open3d-cpu (no GUI stack), '
                 'or open3d; offscreen rendering on a machine without a GPU also needs '
                 "Mesa's drivers (Debian: libvulkan1 mesa-vulkan-drivers libegl1 libgl1 "
                 'libusb-1.0-0)')


def import_open3d():
    """``open3d``, or an ImportError that says how to install it."""
    try:
        import open3d
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return open3d


def build_geometries(points, box_sets: list[BoxSet] = (), heading: bool = True) -> list:
    """open3d geometries: the point cloud (coloured by height) and one ``LineSet`` per
    non-empty box set. Returned as ``[(name, geometry), ...]``."""
    o3d = import_open3d()
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'points must have shape [N, C>=3] (x, y, z first), got '
                         f'{points.shape}')
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(
        points[:, :3].astype(np.float64)))
    cloud.colors = o3d.utility.Vector3dVector(height_colours(points))
    geometries = [('points', cloud)]
    for k, box_set in enumerate(box_sets):
        if not len(box_set.boxes):
            continue
        vertices, lines = box_line_set(box_set.boxes, heading=heading)
        line_set = o3d.geometry.LineSet(o3d.utility.Vector3dVector(vertices),
                                        o3d.utility.Vector2iVector(lines.astype(np.int32)))
        line_set.paint_uniform_color(np.asarray(box_set.colour, dtype=np.float64))
        geometries.append((f'boxes_{k}_{box_set.name}', line_set))
    return geometries


def has_display() -> bool:
    """Whether a window can open: an X11/Wayland display on Linux, always elsewhere."""
    if sys.platform.startswith('linux'):
        return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))
    return True


def show(points, box_sets=(), window_name: str = 'rankdet vis3d') -> None:
    """Open an interactive open3d window (needs a display; see :func:`has_display`)."""
    o3d = import_open3d()
    geometries = [g for _, g in build_geometries(points, box_sets)]
    geometries.append(o3d.geometry.TriangleMesh.create_coordinate_frame(size=2.0))
    o3d.visualization.draw_geometries(geometries, window_name=window_name)


def default_camera(points, view: str = 'chase'):
    """``(look_at, eye, up)`` framing ``points``.

    ``chase``: from behind and above the sensor, looking ahead along +x (the way a
    driver sees the scene); ``bev``: straight down, +x up in the image.
    """
    xyz = np.asarray(points)[:, :3]
    if not len(xyz):
        xyz = np.zeros((1, 3))
    low, high = np.percentile(xyz, [2, 98], axis=0)  # robust to stray far returns
    centre = (low + high) / 2
    extent = float(max(high[0] - low[0], high[1] - low[1], 1.0))
    if view == 'chase':
        look_at = np.array([low[0] + 0.35 * (high[0] - low[0]), centre[1], low[2]])
        eye = look_at + np.array([-0.55 * extent, 0.0, 0.35 * extent])
        return look_at, eye, np.array([0.0, 0.0, 1.0])
    if view == 'bev':
        look_at = np.array([centre[0], centre[1], low[2]])
        return look_at, look_at + np.array([0.0, 0.0, 1.1 * extent]), np.array([1.0, 0, 0])
    raise ValueError(f"view must be 'chase' or 'bev', got {view!r}")


def render_image(points, box_sets=(), width: int = 960, height: int = 540,
                 view: str = 'chase', camera=None, background=(0.05, 0.05, 0.08),
                 point_size: float = 2.0, line_width: float = 2.0) -> np.ndarray:
    """Render offscreen; return ``uint8[height, width, 3]`` RGB.

    ``camera``: ``(look_at, eye, up)``, or None for :func:`default_camera` of ``view``.
    Tries open3d's Filament ``OffscreenRenderer``; if it cannot start, the legacy
    ``Visualizer(visible=False)``, which needs an OpenGL context (a display or OSMesa).
    """
    o3d = import_open3d()
    geometries = build_geometries(points, box_sets)
    look_at, eye, up = camera if camera is not None else default_camera(points, view)
    try:
        renderer = o3d.visualization.rendering.OffscreenRenderer(width, height)
    except Exception as filament_error:  # no EGL/Vulkan: try the legacy OpenGL path
        return _render_legacy(o3d, geometries, width, height, look_at, eye, up,
                              background, point_size, line_width, filament_error)
    rendering = o3d.visualization.rendering
    renderer.scene.set_background([*background, 1.0])
    renderer.scene.view.set_post_processing(False)
    for name, geometry in geometries:
        material = rendering.MaterialRecord()
        if isinstance(geometry, o3d.geometry.LineSet):
            material.shader, material.line_width = 'unlitLine', line_width
        else:
            material.shader, material.point_size = 'defaultUnlit', point_size
        renderer.scene.add_geometry(name, geometry, material)
    renderer.setup_camera(50.0, look_at.astype(np.float32), eye.astype(np.float32),
                          up.astype(np.float32))
    image = np.asarray(renderer.render_to_image())[..., :3].copy()
    del renderer  # frees the Filament scene before another renderer is made
    return image


def _render_legacy(o3d, geometries, width, height, look_at, eye, up, background,
                   point_size, line_width, filament_error) -> np.ndarray:
    vis = o3d.visualization.Visualizer()
    if not vis.create_window(width=width, height=height, visible=False):
        raise RuntimeError(
            f'open3d cannot render offscreen here: the Filament renderer failed '
            f'({filament_error}) and the legacy OpenGL visualizer found no context. '
            f'{_INSTALL_HINT}')
    try:
        for _, geometry in geometries:
            vis.add_geometry(geometry)
        options = vis.get_render_option()
        options.background_color = np.asarray(background)
        options.point_size, options.line_width = point_size, line_width
        control = vis.get_view_control()
        front = (eye - look_at) / np.linalg.norm(eye - look_at)
        control.set_lookat(look_at)
        control.set_front(front)
        control.set_up(up)
        control.set_zoom(0.5)
        vis.poll_events()
        vis.update_renderer()
        buffer = np.asarray(vis.capture_screen_float_buffer(do_render=True))
    finally:
        vis.destroy_window()
    return (np.clip(buffer, 0, 1) * 255).round().astype(np.uint8)


def write_png(path, image: np.ndarray) -> Path:
    """Write ``uint8[H, W, 3]`` RGB as a PNG, through a temporary file and a rename."""
    from PIL import Image
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format='PNG', optimize=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def render_png(path, points, box_sets=(), **kwargs) -> Path:
    """:func:`render_image` written to ``path`` (PNG)."""
    return write_png(path, render_image(points, box_sets, **kwargs))
