"""histeq.monai: MONAI's conventions (channel first, keys, mask_key, prob, set_random_state, MetaTensor kept) around
results equal to histeq's functions, on 2-D and 3-D, 16-bit data."""

import doctest

import numpy as np
import pytest
from skimage import data

import histeq

pytest.importorskip("monai")
import torch  # noqa: E402
from monai.data import MetaTensor  # noqa: E402
from monai.transforms import Compose  # noqa: E402

from histeq import monai as hm  # noqa: E402

DEEP = (data.camera().astype(np.uint16) * 257 + np.random.default_rng(2).integers(0, 257, (512, 512))).astype(np.uint16)
VOLUME = np.stack([DEEP[k * 16 : k * 16 + 96, 100:180] for k in range(10)], axis=-1)[None]  # (1, H, W, D)
TWO = np.concatenate([VOLUME, VOLUME[:, ::-1]], axis=0)  # two channels
AFFINE = torch.diag(torch.tensor([0.4, 0.4, 1.4, 1.0], dtype=torch.float64))


def _meta(array):
    return MetaTensor(np.ascontiguousarray(array), affine=AFFINE, meta={"filename_or_obj": "case.nii.gz"})


def test_array_transforms_equal_the_functions_and_keep_the_metadata():
    for transform, expected in (
        (hm.Equalize(), histeq.equalize(TWO, axes=(1, 2, 3))),
        (hm.CLAHE(clip_limit=3.0, tiles=(4, 4, 2)), histeq.clahe(TWO, axes=(1, 2, 3), clip_limit=3.0, tiles=(4, 4, 2))),
    ):
        out = transform(_meta(TWO))
        assert type(out) is MetaTensor and out.dtype == torch.uint16
        assert out.meta["filename_or_obj"] == "case.nii.gz" and torch.equal(out.affine, AFFINE)
        np.testing.assert_array_equal(out.numpy(), expected)
        np.testing.assert_array_equal(np.asarray(transform(TWO)), expected)  # NumPy in: MONAI's tensor out
    image = DEEP[None, :200, :300]  # 2-D, channel first
    np.testing.assert_array_equal(hm.CLAHE(tiles=4)(image).numpy(), histeq.clahe(image, tiles=4, axes=(1, 2)))


def test_regions_in_millimetres_from_the_pixdim():
    """A MetaTensor's pixdim (0.4 x 0.4 x 1.4 here) gives kernel_size its units, as MONAI's Spacing reads it;
    a plain array's regions are in pixels, and spacing= gives them units of its own."""
    expected = histeq.clahe(TWO, axes=(1, 2, 3), kernel_size=12, spacing=(0.4, 0.4, 1.4))
    np.testing.assert_array_equal(hm.CLAHE(kernel_size=12)(_meta(TWO)).numpy(), expected)
    np.testing.assert_array_equal(hm.CLAHE(kernel_size=12, spacing=(0.4, 0.4, 1.4))(TWO).numpy(), expected)
    np.testing.assert_array_equal(
        hm.CLAHE(kernel_size=32)(TWO).numpy(), histeq.clahe(TWO, axes=(1, 2, 3), tiles=(3, 3, 1))
    )
    out = hm.CLAHEd(keys="image", kernel_size=12)({"image": _meta(TWO)})["image"]
    np.testing.assert_array_equal(out.numpy(), expected)
    with pytest.raises(ValueError, match="not both"):
        hm.CLAHE(tiles=4, kernel_size=20)


def test_dictionary_transforms_keys_masks_and_missing_keys():
    mask = VOLUME > 20000
    sample = {"image": _meta(TWO), "label": torch.ones(3), "mask": torch.from_numpy(mask)}
    out = hm.Equalized(keys="image", mask_key="mask")(sample)
    np.testing.assert_array_equal(out["image"].numpy(), histeq.equalize(TWO, axes=(1, 2, 3), mask=mask))
    assert out["label"] is sample["label"] and torch.equal(out["image"].affine, AFFINE)
    out = hm.CLAHEd(keys=["image", "other"], tiles=3, allow_missing_keys=True)(sample)
    np.testing.assert_array_equal(out["image"].numpy(), histeq.clahe(TWO, axes=(1, 2, 3), tiles=3))
    with pytest.raises(KeyError):
        hm.CLAHEd(keys=["image", "other"])(sample)


def test_rand_clahe_prob_seed_and_one_draw_for_every_key():
    sample = {"a": _meta(TWO), "b": _meta(TWO)}
    unchanged = hm.RandCLAHEd(keys=["a", "b"], prob=0.0)(sample)
    np.testing.assert_array_equal(unchanged["a"].numpy(), TWO)
    first = hm.RandCLAHEd(keys=["a", "b"], prob=1.0, tiles=(2, 6)).set_random_state(7)(sample)
    again = hm.RandCLAHEd(keys=["a", "b"], prob=1.0, tiles=(2, 6)).set_random_state(7)(sample)
    assert torch.equal(first["a"], again["a"]) and torch.equal(first["a"], first["b"])  # one draw, every key
    random = hm.RandCLAHE(prob=1.0, clip_limit=(1.5, 3.5), tiles=(2, 6)).set_random_state(5)
    out = random(_meta(TWO))
    drawn = random.drawn
    assert 1.5 <= drawn.clip_limit <= 3.5 and 2 <= drawn.tiles <= 6
    expected = histeq.clahe(TWO, axes=(1, 2, 3), clip_limit=drawn.clip_limit, tiles=min(drawn.tiles, 10))
    np.testing.assert_array_equal(out.numpy(), expected)
    with pytest.raises(ValueError, match="clip_limit"):
        hm.RandCLAHE(clip_limit=(3.0, 2.0))


def test_match_histograms_by_key_or_fixed_reference():
    reference = np.ascontiguousarray(TWO[:, ::-1, ::-1] // 3)
    sample = {"image": _meta(TWO), "template": _meta(reference)}
    out = hm.MatchHistogramsd(keys="image", reference_key="template")(sample)["image"]
    expected = histeq.match(TWO, reference, axes=(1, 2, 3), channel_axis=0, color="per-channel")
    np.testing.assert_array_equal(out.numpy(), expected)
    one = hm.MatchHistogramsd(keys="image", reference=reference[:1])(sample)["image"]
    np.testing.assert_array_equal(one.numpy(), histeq.match(TWO, reference[0], axes=(1, 2, 3)))
    with pytest.raises(ValueError, match="either"):
        hm.MatchHistogramsd(keys="image")


def test_in_a_monai_compose_with_a_brain_mask():
    brain = VOLUME > 15000
    pipeline = Compose(
        [
            hm.CLAHEd(keys="image", tiles=(4, 4, 2), mask_key="brain"),
            hm.RandCLAHEd(keys="image", prob=0.0),
        ]
    )
    out = pipeline({"image": _meta(VOLUME), "brain": torch.from_numpy(brain)})
    assert type(out["image"]) is MetaTensor and out["image"].meta["filename_or_obj"] == "case.nii.gz"
    assert torch.equal(out["image"].affine, AFFINE) and torch.equal(out["brain"], torch.from_numpy(brain))
    expected = histeq.clahe(VOLUME, axes=(1, 2, 3), tiles=(4, 4, 2), mask=brain)
    np.testing.assert_array_equal(out["image"].numpy(), expected)


def test_the_example_runs():
    assert doctest.testmod(hm, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
