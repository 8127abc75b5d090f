"""Registration baseline on simulate's ``shapes`` pairs: the floor a template-comparison model must beat.

1. Log-polar phase correlation (Reddy & Chatterji) recovers the recorded SIM(2) pose of each
   pair: the magnitude spectra's log-polar images give rotation and scale, then a phase
   correlation of the de-rotated, de-scaled template gives the shift. Magnitude spectra are
   symmetric, so the rotation is known modulo 180°: both candidates are tried and the one that
   correlates better is kept.
2. Difference after registration: the template warped by the *estimated* pose is subtracted
   from the defected view; the per-pixel difference is scored against the mask (pixel AUROC).

Pairs are made in memory with the stage's own generator (same params as ``simulate``), so
the figures describe exactly what the stage writes. Prints the figures; records nothing.

Usage:
    python benchmarks/bench_registration.py --pairs 200
"""

from __future__ import annotations

import argparse
import math
import time

import cv2
import numpy as np

from pcbforge.augment.ssds import Pose, pose_matrix, simulate_shapes
from pcbforge.config import SimulateParams
from pcbforge.rng import make_rng


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _log_polar_spectrum(g: np.ndarray) -> tuple[np.ndarray, float]:
    """High-passed log-polar image of the centred magnitude spectrum, and its log base."""
    h, w = g.shape
    win = cv2.createHanningWindow((w, h), cv2.CV_32F)
    f = np.fft.fftshift(np.abs(np.fft.fft2(g * win)))
    # High-emphasis filter: the DC peak would dominate the correlation.
    yy, xx = np.meshgrid(np.linspace(-0.5, 0.5, h), np.linspace(-0.5, 0.5, w), indexing="ij")
    c = np.cos(np.pi * xx) * np.cos(np.pi * yy)
    f = (f * (1.0 - c) * (2.0 - c)).astype(np.float32)
    radius = min(h, w) / 2.0
    lp = cv2.warpPolar(f, (w, h), (w / 2.0, h / 2.0), radius, cv2.WARP_POLAR_LOG | cv2.INTER_LINEAR)
    return lp, math.log(radius) / w


def register(template: np.ndarray, defected: np.ndarray) -> tuple[Pose, float]:
    """Estimate the pose mapping ``template`` onto ``defected``; returns it and the shift's correlation peak."""
    t, d = _gray(template), _gray(defected)
    h, w = t.shape
    lt, base = _log_polar_spectrum(t)
    ld, _ = _log_polar_spectrum(d)
    (sx, sy), _ = cv2.phaseCorrelate(lt, ld)
    # Rows of warpPolar are angles (h rows = 360°), columns log-radius.
    angle = -sy * 360.0 / h
    scale = math.exp(sx * base)
    win = cv2.createHanningWindow((w, h), cv2.CV_32F)
    best: tuple[Pose, float] | None = None
    for cand in (angle, angle + 180.0):
        rs = cv2.warpAffine(t, pose_matrix(Pose(0, 0, cand, scale), (h, w)), (w, h))
        (dx, dy), resp = cv2.phaseCorrelate(rs, d, win)
        if best is None or resp > best[1]:
            best = (Pose(dx, dy, cand % 360.0, scale), resp)
    assert best is not None
    return best


def angle_error(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Pixel AUROC by ranks (Mann-Whitney U), ties averaged."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    s = scores[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    pos = labels.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20241123)
    ap.add_argument("--preset", default="paper", choices=["paper", "small"])
    ap.add_argument("--shift-tol", type=float, default=2.0, help="px")
    ap.add_argument("--angle-tol", type=float, default=1.0, help="degrees")
    ap.add_argument("--scale-tol", type=float, default=0.02, help="relative")
    args = ap.parse_args()
    sp = SimulateParams(preset=args.preset)
    ok = 0
    errs = []
    scores, labels = [], []
    t0 = time.perf_counter()
    for i in range(args.pairs):
        template, defected, mask, recipe = simulate_shapes(make_rng(args.seed, "simulate", i), sp)
        truth = Pose(**recipe["pose"])
        est, _ = register(template, defected)
        e = (
            math.hypot(est.dx - truth.dx, est.dy - truth.dy),
            angle_error(est.angle, truth.angle),
            abs(est.scale / truth.scale - 1.0),
        )
        errs.append(e)
        ok += e[0] <= args.shift_tol and e[1] <= args.angle_tol and e[2] <= args.scale_tol
        size = template.shape[0]
        warped = cv2.warpAffine(template, pose_matrix(est, (size, size)), (size, size), flags=cv2.INTER_LINEAR)
        valid = cv2.warpAffine(np.full((size, size), 255, np.uint8), pose_matrix(est, (size, size)), (size, size)) == 255
        diff = np.abs(warped.astype(np.float32) - defected.astype(np.float32)).max(axis=2)
        diff = cv2.GaussianBlur(diff, (0, 0), 1.0)
        # Pixels the template never covered carry no evidence: score them 0 (not a defect).
        diff[~valid] = 0.0
        scores.append(diff[::2, ::2].ravel())
        labels.append((mask[::2, ::2] > 0).ravel())
    secs = time.perf_counter() - t0
    errs_a = np.array(errs)
    pixel_auroc = auroc(np.concatenate(scores), np.concatenate(labels))
    print(f"pairs: {args.pairs} (preset {args.preset}, {sp.image_size} px), {secs / args.pairs * 1000:.0f} ms/pair")
    print(
        f"pose recovered within {args.shift_tol} px / {args.angle_tol} deg / {args.scale_tol:.0%} scale: "
        f"{ok}/{args.pairs} = {ok / args.pairs:.1%}"
    )
    print(
        "median error: shift {:.2f} px, angle {:.2f} deg, scale {:.3%}".format(*np.median(errs_a, axis=0))
    )
    print(f"difference-after-registration pixel AUROC: {pixel_auroc:.3f}")


if __name__ == "__main__":
    main()
