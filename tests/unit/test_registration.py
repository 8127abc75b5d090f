"""The registration baseline (benchmarks/bench_registration.py) against poses the project itself applies."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from benchmarks.bench_registration import angle_error, auroc, board_scene, corner_error, pose_of, register
from pcbforge.augment.ssds import Pose, canvas_matrix, margin_for, pose_matrix, simulate_pair
from pcbforge.config import SimulateParams
from pcbforge.rng import make_rng
from pcbforge.vocab import SceneMode

SIZE = 256


def textured_pair(pose: Pose, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A canvas of random rotated rectangles; the template is its centre, the view is cut as simulate cuts it."""
    rng = np.random.default_rng(seed)
    m = margin_for(pose, SIZE)
    c = SIZE + 2 * m
    canvas = np.full((c, c, 3), 90, np.uint8)
    for _ in range(c * c // 800):
        (cx, cy), (w, h), ang = rng.uniform(0, c, 2), rng.uniform(4, 30, 2), rng.uniform(0, 180)
        box = cv2.boxPoints(((float(cx), float(cy)), (float(w), float(h)), float(ang))).astype(np.int32)
        cv2.fillPoly(canvas, [box], [int(v) for v in rng.integers(0, 256, 3)])
    template = canvas[m : m + SIZE, m : m + SIZE].copy()
    return template, cv2.warpAffine(canvas, canvas_matrix(pose, SIZE, m), (SIZE, SIZE), flags=cv2.INTER_LINEAR)


def errors(est: Pose, truth: Pose) -> tuple[float, float, float]:
    return math.hypot(est.dx - truth.dx, est.dy - truth.dy), angle_error(est.angle, truth.angle), abs(est.scale / truth.scale - 1)


@pytest.mark.parametrize(
    "truth",
    [Pose(0, 0, 20, 1.1), Pose(30, -20, 60, 0.9), Pose(-40, 40, 150, 1.15), Pose(10, -5, 0, 1.0)],
    ids=["rot20-scale1.1", "rot60-scale0.9-shift", "rot150-scale1.15-shift", "shift-only"],
)
def test_register_recovers_a_pose_applied_with_the_projects_own_warp(truth: Pose) -> None:
    template, defected = textured_pair(truth)
    est, _ = register(template, defected)
    shift, angle, scale = errors(est, truth)
    assert shift < 0.5 and angle < 0.3 and scale < 0.005, (est, truth)


def test_pose_of_inverts_pose_matrix() -> None:
    truth = Pose(12.5, -3.25, 123.0, 0.85)
    m = np.vstack([pose_matrix(truth, (SIZE, SIZE)), [0, 0, 1]])
    back = pose_of(m, (SIZE, SIZE))
    assert max(errors(back, truth)) < 1e-9


def test_register_recovers_a_paper_preset_board_pair() -> None:
    sp = SimulateParams(mode=SceneMode.BOARD, preset="paper", image_size=SIZE)
    template, defected, mask, recipe = simulate_pair(board_scene(3, 7, SIZE), make_rng(7, "simulate", 3), sp)
    truth = Pose(**recipe["pose"])
    assert truth.scale != 1.0 and abs(truth.dx) + abs(truth.dy) > 1.0  # a real SIM(2) pose
    est, _ = register(template, defected)
    shift, angle, scale = errors(est, truth)
    assert shift < 1.0 and angle < 0.5 and scale < 0.01, (est, truth)


def test_auroc_by_ranks() -> None:
    assert auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert auroc(np.array([1.0, 1.0, 1.0, 1.0]), np.array([0, 1, 0, 1])) == 0.5


def test_corner_error_on_hand_made_poses() -> None:
    # A pure shift moves every pixel by its length.
    assert corner_error(Pose(3.0, 4.0, 0.0), Pose(), (11, 11)) == pytest.approx((5.0, 5.0))
    # A 90° turn about the centre of an 11 px view (centre (5, 5)): corner (0, 0) is 5√2 from it
    # and goes to a point 10 px away (a quarter circle's chord: 5√2·√2); the centre stays, so
    # the mean over pixels is below the max.
    mx, mean = corner_error(Pose(0.0, 0.0, 90.0), Pose(), (11, 11))
    assert mx == pytest.approx(10.0) and 0.0 < mean < mx
    # A 10 % scale about the centre moves a corner by 10 % of its distance (5√2) from it.
    assert corner_error(Pose(0.0, 0.0, 0.0, 1.1), Pose(), (11, 11))[0] == pytest.approx(0.5 * math.sqrt(2))
    # Symmetric, and zero on itself.
    a, b = Pose(1.5, -2.0, 30.0, 0.9), Pose(-1.0, 0.5, 28.0, 1.05)
    assert corner_error(a, b, (64, 48)) == pytest.approx(corner_error(b, a, (64, 48)))
    assert corner_error(a, a, (64, 48)) == pytest.approx((0.0, 0.0))
