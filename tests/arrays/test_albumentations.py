"""histeq.albumentations: albumentations' conventions (targets, p, InitSchema, seeded draws, serialization) around
results equal to histeq's functions, on real images, at every dtype's full precision."""

import numpy as np
import pytest
from skimage import data

import histeq

A = pytest.importorskip("albumentations")
from histeq.albumentations import CLAHE, Equalize, MatchHistograms, RandomCLAHE, Specify  # noqa: E402

CAMERA = data.camera()
DEEP = (CAMERA.astype(np.uint16) * 257 + np.random.default_rng(1).integers(0, 257, CAMERA.shape)).astype(np.uint16)
FLOAT = (CAMERA / np.float32(255)).astype(np.float32)
PHOTO = data.astronaut()


@pytest.mark.parametrize("image", [CAMERA, DEEP, FLOAT], ids=["uint8", "uint16", "float32"])
def test_each_transform_equals_the_function_at_full_precision(image):
    """uint16 and float32 keep their dtype and every level (albumentations' own CLAHE takes uint8 only)."""
    for transform, expected in (
        (Equalize(p=1), histeq.equalize(image)),
        (CLAHE(clip_limit=3.0, tiles=(4, 6), p=1), histeq.clahe(image, clip_limit=3.0, tiles=(4, 6))),
        (Specify("rayleigh", p=1), histeq.specify(image, "rayleigh")),
    ):
        out = transform(image=image)["image"]
        assert out.dtype == image.dtype
        np.testing.assert_array_equal(out, expected)


def test_colour_modes_and_channels():
    np.testing.assert_array_equal(Equalize(p=1)(image=PHOTO)["image"], histeq.equalize(PHOTO, axes=(0, 1)))
    np.testing.assert_array_equal(
        CLAHE(color="lightness", p=1)(image=PHOTO)["image"],
        histeq.clahe(PHOTO, channel_axis=-1, color="lightness"),
    )
    grey = CAMERA[..., None]  # (H, W, 1): grey, whatever the colour mode
    np.testing.assert_array_equal(Equalize(color="luma", p=1)(image=grey)["image"][..., 0], histeq.equalize(CAMERA))


@pytest.mark.filterwarnings("ignore:Got processor for:UserWarning")  # albumentations: no transform moves boxes here
def test_masks_boxes_and_keypoints_pass_untouched():
    mask = (CAMERA > 120).astype(np.uint8)
    pipeline = A.Compose(
        [CLAHE(p=1), RandomCLAHE(p=1)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        keypoint_params=A.KeypointParams(format="xy"),
        seed=3,
    )
    out = pipeline(image=CAMERA, mask=mask, bboxes=[(10, 20, 200, 220)], labels=[4], keypoints=[(5.0, 6.0)])
    np.testing.assert_array_equal(out["mask"], mask)
    np.testing.assert_allclose(np.asarray(out["bboxes"]), [[10, 20, 200, 220]])
    np.testing.assert_allclose(np.asarray(out["keypoints"])[:, :2], [[5.0, 6.0]])
    assert list(out["labels"]) == [4]


def test_batches_and_volumes():
    """images: each image alone; a volume: one 3-D image (3-D tiles), or slice by slice when asked."""
    images = np.stack([CAMERA[:200, :200], CAMERA[200:400, 100:300]])
    for transform in (Equalize(p=1), CLAHE(tiles=5, p=1), Specify("exponential", p=1)):
        batch = transform(images=images)["images"]
        for image, out in zip(images, batch):  # apply_to_images: each image as its own call
            np.testing.assert_array_equal(out, transform(image=image)["image"])
    volume = np.stack([DEEP[k * 20 : k * 20 + 100, 100:180] for k in range(12)])
    np.testing.assert_array_equal(CLAHE(tiles=3, p=1)(volume=volume)["volume"], histeq.clahe(volume, tiles=3))
    np.testing.assert_array_equal(
        CLAHE(tiles=3, per_slice=True, p=1)(volume=volume)["volume"], histeq.clahe(volume, tiles=3, axes=(1, 2))
    )
    volumes = np.stack([volume, volume[::-1]])
    np.testing.assert_array_equal(Equalize(p=1)(volumes=volumes)["volumes"], histeq.equalize(volumes, axes=(1, 2, 3)))


def test_random_clahe_draws_from_the_pipeline_seed():
    """Compose(seed=...) reproduces a run; each call draws anew; the draw is within the ranges and applied."""

    def run(seed):
        pipeline = A.Compose([RandomCLAHE(clip_limit=(1.5, 3.5), tiles=(2, 6), p=1)], seed=seed)
        return [pipeline(image=CAMERA)["image"] for _ in range(4)]

    first, again, other = run(11), run(11), run(12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert len({out.tobytes() for out in first}) > 1
    transform = RandomCLAHE(clip_limit=(1.5, 3.5), tiles=(2, 6), p=1)
    transform.set_random_seed(5)
    params = transform.get_params()
    assert 1.5 <= params["clip_limit"] <= 3.5 and 2 <= params["tiles"] <= 6
    np.testing.assert_array_equal(
        transform.apply(CAMERA, **params), histeq.clahe(CAMERA, tiles=params["tiles"], clip_limit=params["clip_limit"])
    )


@pytest.mark.parametrize("reference", [data.moon(), (data.moon().astype(np.uint16) * 200)], ids=["uint8", "uint16"])
def test_match_histograms_equals_match_with_the_reference(reference):
    image = DEEP if reference.dtype == np.uint16 else CAMERA
    out = MatchHistograms(reference=reference, p=1)(image=image)["image"]
    np.testing.assert_array_equal(out, histeq.match(image, reference))
    coffee = data.coffee()
    out = MatchHistograms(reference=coffee, p=1)(image=PHOTO)["image"]
    np.testing.assert_array_equal(out, histeq.match(PHOTO, coffee, channel_axis=-1, color="per-channel"))


def test_every_transform_round_trips_through_to_dict_and_save(tmp_path):
    pipeline = A.Compose(
        [
            Equalize(color="luma", p=0.7),
            CLAHE(clip_limit=2.5, tiles=(3, 5), p=1),
            CLAHE(kernel_size=(90, 40), spacing=(1.5, 0.5), p=1),
            RandomCLAHE(clip_limit=(1.2, 3.0), tiles=(2, 4), per_slice=True, p=0.9),
            Specify([1, 2, 3, 2, 1], p=1),
            MatchHistograms(reference=data.moon(), p=1),
        ],
        seed=21,
    )
    restored = A.from_dict(A.to_dict(pipeline))
    path = tmp_path / "pipeline.json"
    A.save(pipeline, str(path))
    loaded = A.load(str(path))
    for copy in (restored, loaded):
        assert [type(t).__name__ for t in copy.transforms] == [type(t).__name__ for t in pipeline.transforms]
        for original, back in zip(pipeline.transforms, copy.transforms):
            assert original.get_transform_init_args() == back.get_transform_init_args()
            assert original.p == back.p
    photo = A.Compose(pipeline.transforms, seed=8)(image=PHOTO)["image"]
    again = A.Compose(loaded.transforms, seed=8)(image=PHOTO)["image"]
    np.testing.assert_array_equal(photo, again)


def test_bad_arguments_are_refused_when_made():
    for make in (
        lambda: CLAHE(clip_limit=0.5),
        lambda: CLAHE(tiles=4, kernel_size=32),
        lambda: CLAHE(spacing=0.4),
        lambda: CLAHE(kernel_size=-2),
        lambda: RandomCLAHE(clip_limit=(3.0, 2.0)),
        lambda: RandomCLAHE(tiles=(0, 4)),
        lambda: Specify([1, -1]),
        lambda: Equalize(color="hue"),
        lambda: MatchHistograms(),
        lambda: Equalize(p=2),
    ):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(TypeError, match="8- or 16-bit integers"):
        MatchHistograms(reference=FLOAT)


def test_regions_by_size_in_pixels_or_microns_and_small_crops():
    volume = np.stack([DEEP[k * 8 : k * 8 + 120, 50:250] for k in range(20)])  # (D, H, W) uint16
    out = CLAHE(kernel_size=20, spacing=(1.4, 0.4, 0.4), p=1)(volume=volume)["volume"]
    np.testing.assert_array_equal(out, histeq.clahe(volume, kernel_size=20, spacing=(1.4, 0.4, 0.4)))
    image = DEEP[:200, :300]
    np.testing.assert_array_equal(CLAHE(kernel_size=64, p=1)(image=image)["image"], histeq.clahe(image, kernel_size=64))
    # A crop smaller than the region: one region along that axis, as tiles are fitted to small crops.
    crop = DEEP[:40, :300]
    np.testing.assert_array_equal(CLAHE(kernel_size=64, p=1)(image=crop)["image"], histeq.clahe(crop, tiles=(1, 5)))
