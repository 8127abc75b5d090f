"""SSDS-style simulated defects: random shapes pasted onto a template, under a small pose change.

A *pair* is a defect-free template (a component view) and a "defected" image of the same
part: the template seen under a small SIM(2) misalignment (shift + rotation, no scale:
the camera/board registration error) plus a sub-pixel assembly jitter (the part sitting
slightly differently on its pads), with one or more random shapes (polygons, ellipses,
blobs, scratches) of random colour and texture pasted on top. The binary mask marks the
pasted pixels **in the defected image's frame**, so a model must tolerate the pose and
still find the shapes.

Everything here is pure: the generator is passed in, nothing is read from params or disk.

Example:
    >>> import numpy as np
    >>> from pcbforge.rng import make_rng
    >>> img = np.full((32, 32, 3), 90, np.uint8)
    >>> t, d, m, p = simulate_pair(img, make_rng(0, "doc"), max_shapes=2)
    >>> d.shape, m.dtype.name, sorted(p)
    ((32, 32, 3), 'uint8', ['jitter', 'misalignment', 'pose', 'shapes'])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

#: Shape kinds drawn by :func:`draw_shape`.
SHAPE_KINDS: tuple[str, ...] = ("polygon", "ellipse", "blob", "scratch")
#: Fill textures used by :func:`make_texture`.
TEXTURES: tuple[str, ...] = ("flat", "noise", "gradient", "stripes")
#: Least per-channel difference between a pasted pixel and the background under it; a
#: shape that happened to match the board colour would be a defect nobody could see, and
#: the mask would then claim changes that are not there.
MIN_CONTRAST = 32


@dataclass(frozen=True)
class Pose:
    """A SIM(2) transform without scale: rotate by ``angle`` degrees about the image centre, then shift.

    Angles follow OpenCV (positive = counter-clockwise as displayed); ``dx``/``dy`` are pixels,
    ``+x`` right and ``+y`` down. It maps template coordinates to defected-image coordinates.
    """

    dx: float = 0.0
    dy: float = 0.0
    angle: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """JSON-ready ``{"dx", "dy", "angle"}`` rounded to 1e-6 (stable text in manifests)."""
        return {k: round(float(v), 6) for k, v in asdict(self).items()}


def pose_matrix(pose: Pose, size: tuple[int, int]) -> np.ndarray:
    """The 2×3 affine matrix of ``pose`` for an image of ``size`` = (height, width).

    Example:
        >>> (pose_matrix(Pose(1.0, 2.0, 0.0), (8, 8)).round(3) + 0.0).tolist()
        [[1.0, 0.0, 1.0], [0.0, 1.0, 2.0]]
    """
    h, w = size
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(pose.angle), 1.0)
    m[0, 2] += pose.dx
    m[1, 2] += pose.dy
    return m


def apply_pose(image: np.ndarray, pose: Pose) -> np.ndarray:
    """Warp ``image`` by ``pose`` (bilinear; borders reflected so no black wedges look like defects)."""
    h, w = image.shape[:2]
    if pose == Pose():
        return image.copy()
    return cv2.warpAffine(
        image, pose_matrix(pose, (h, w)), (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def _centre(rng: np.random.Generator, h: int, w: int) -> tuple[float, float]:
    # Keep shapes over the part rather than on the outer margin of the view.
    return float(rng.uniform(0.15, 0.85) * (w - 1)), float(rng.uniform(0.15, 0.85) * (h - 1))


def draw_shape(kind: str, size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Rasterise one random shape of ``kind`` into a boolean mask of ``size`` = (height, width).

    Returns:
        ``(mask, description)``; the description is JSON-ready (kind, centre, extent).
    """
    h, w = size
    side = min(h, w)
    canvas = np.zeros((h, w), np.uint8)
    cx, cy = _centre(rng, h, w)
    desc: dict[str, Any] = {"kind": kind, "center": [round(cx, 3), round(cy, 3)]}
    if kind == "polygon":
        n = int(rng.integers(3, 9))
        radius = rng.uniform(0.06, 0.2) * side
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = radius * rng.uniform(0.5, 1.0, n)
        pts = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1, lineType=cv2.LINE_8)
        desc.update(vertices=n, radius=round(float(radius), 3))
    elif kind == "ellipse":
        axes = (max(1, int(round(rng.uniform(0.04, 0.18) * side))), max(1, int(round(rng.uniform(0.02, 0.12) * side))))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(canvas, (int(round(cx)), int(round(cy))), axes, angle, 0, 360, 1, thickness=-1, lineType=cv2.LINE_8)
        desc.update(axes=list(axes), angle=round(angle, 3))
    elif kind == "blob":
        k = int(rng.integers(3, 7))
        spread = rng.uniform(0.03, 0.1) * side
        for _ in range(k):
            px = int(round(cx + rng.normal(0, spread)))
            py = int(round(cy + rng.normal(0, spread)))
            r = max(1, int(round(rng.uniform(0.02, 0.07) * side)))
            cv2.circle(canvas, (px, py), r, 1, thickness=-1, lineType=cv2.LINE_8)
        desc.update(circles=k, spread=round(float(spread), 3))
    elif kind == "scratch":
        n = int(rng.integers(3, 7))
        step = rng.uniform(0.04, 0.12) * side
        heading = rng.uniform(0, 2 * np.pi)
        pts = [(cx, cy)]
        for _ in range(n - 1):
            heading += rng.normal(0, 0.5)  # a scratch bends, it does not zig-zag
            pts.append((pts[-1][0] + step * np.cos(heading), pts[-1][1] + step * np.sin(heading)))
        thickness = int(rng.integers(1, max(2, side // 32) + 1))
        cv2.polylines(canvas, [np.round(np.array(pts)).astype(np.int32)], False, 1, thickness, lineType=cv2.LINE_8)
        desc.update(points=n, thickness=thickness)
    else:
        raise ValueError(f"unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}")
    return canvas.astype(bool), desc


def make_texture(kind: str, size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """A random RGB fill of ``size`` = (height, width): flat colour, noise, gradient or stripes."""
    h, w = size
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    desc: dict[str, Any] = {"texture": kind, "color": [int(v) for v in c1]}
    if kind == "flat":
        tex = np.broadcast_to(c1, (h, w, 3)).astype(np.float32)
    elif kind == "noise":
        sigma = float(rng.uniform(8, 40))
        tex = c1 + rng.normal(0, sigma, (h, w, 3)).astype(np.float32)
        desc["sigma"] = round(sigma, 3)
    elif kind in ("gradient", "stripes"):
        c2 = rng.integers(0, 256, 3).astype(np.float32)
        theta = float(rng.uniform(0, np.pi))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        proj = xx * np.cos(theta) + yy * np.sin(theta)
        if kind == "gradient":
            t = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)
        else:
            period = float(rng.uniform(3, max(4.0, min(h, w) / 6)))
            t = (np.floor(proj / period) % 2).astype(np.float32)
            desc["period"] = round(period, 3)
        tex = c1 + (c2 - c1) * t[..., None]
        desc.update(color2=[int(v) for v in c2], direction_deg=round(float(np.degrees(theta)), 3))
    else:
        raise ValueError(f"unknown texture {kind!r}; expected one of {TEXTURES}")
    return np.clip(np.round(tex), 0, 255).astype(np.uint8), desc


def paste(canvas: np.ndarray, background: np.ndarray, region: np.ndarray, texture: np.ndarray) -> None:
    """Paste ``texture`` into ``canvas`` over ``region`` (in place), visibly different from ``background``.

    Pixels whose texture is within :data:`MIN_CONTRAST` of the background on every channel
    are shifted by 128 levels (mod 256), so each masked pixel really differs from the template.
    """
    bg = background[region].astype(np.int16)
    tex = texture[region].astype(np.int16)
    weak = np.abs(tex - bg).max(axis=1) < MIN_CONTRAST
    tex[weak] = (bg[weak] + 128) % 256
    canvas[region] = tex.astype(np.uint8)


def sample_pose(
    rng: np.random.Generator, max_shift_px: float, max_rotation_deg: float, jitter_px: float
) -> tuple[Pose, Pose, Pose]:
    """Draw (misalignment, jitter, total pose); each shift/angle is uniform within its bound.

    Values are rounded to 1e-6 before use, so the pose written to a manifest reproduces
    the warp exactly.
    """

    def u(bound: float) -> float:
        return round(float(rng.uniform(-bound, bound)), 6)

    mis = Pose(dx=u(max_shift_px), dy=u(max_shift_px), angle=u(max_rotation_deg))
    jit = Pose(dx=u(jitter_px), dy=u(jitter_px))
    return mis, jit, Pose(round(mis.dx + jit.dx, 6), round(mis.dy + jit.dy, 6), mis.angle)


def simulate_pair(
    template: np.ndarray,
    rng: np.random.Generator,
    *,
    max_shapes: int = 3,
    max_shift_px: float = 2.0,
    max_rotation_deg: float = 2.0,
    jitter_px: float = 0.5,
    shape_kinds: tuple[str, ...] = SHAPE_KINDS,
    textures: tuple[str, ...] = TEXTURES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Make one SSDS pair from a defect-free RGB ``template``.

    Args:
        template: ``(H, W, 3)`` uint8 image of a good part.
        rng: the pair's own generator (e.g. ``make_rng(seed, "simulate", i)``).
        max_shapes: 1..max_shapes shapes are pasted.
        max_shift_px: bound on the misalignment shift along x and along y.
        max_rotation_deg: bound on the misalignment rotation.
        jitter_px: bound on the extra assembly jitter along x and along y (added to the shift).
        shape_kinds: kinds to draw from (see :data:`SHAPE_KINDS`).
        textures: fills to draw from (see :data:`TEXTURES`).

    Returns:
        ``(template, defected, mask, params)``: the template unchanged (a copy); the defected
        image = template warped by ``params["pose"]`` with shapes pasted; a ``(H, W)`` uint8
        mask (255 on pasted pixels, 0 elsewhere) in the defected frame; and JSON-ready params
        (``shapes``, ``pose`` = total transform, ``misalignment``, ``jitter``).

    Raises:
        ValueError: if ``template`` is not an RGB uint8 image or ``max_shapes`` < 1.
    """
    if template.ndim != 3 or template.shape[2] != 3 or template.dtype != np.uint8:
        raise ValueError(f"template must be (H, W, 3) uint8, got {template.shape} {template.dtype}")
    if max_shapes < 1:
        raise ValueError(f"max_shapes must be >= 1, got {max_shapes}")
    h, w = template.shape[:2]
    mis, jit, pose = sample_pose(rng, max_shift_px, max_rotation_deg, jitter_px)
    background = apply_pose(template, pose)
    defected = background.copy()
    union = np.zeros((h, w), bool)
    shapes: list[dict[str, Any]] = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        kind = shape_kinds[int(rng.integers(len(shape_kinds)))]
        region, desc = draw_shape(kind, (h, w), rng)
        tex_kind = textures[int(rng.integers(len(textures)))]
        texture, tex_desc = make_texture(tex_kind, (h, w), rng)
        paste(defected, background, region, texture)
        union |= region
        shapes.append({**desc, **tex_desc, "area_px": int(region.sum())})
    mask = np.where(union, 255, 0).astype(np.uint8)
    params = {
        "shapes": shapes,
        "pose": pose.as_dict(),
        "misalignment": mis.as_dict(),
        "jitter": {"dx": jit.as_dict()["dx"], "dy": jit.as_dict()["dy"]},
    }
    return template.copy(), defected, mask, params
