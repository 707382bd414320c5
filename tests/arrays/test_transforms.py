"""histeq.transforms: nn.Modules equal to the functions, inside torchvision's v2.Compose, on tv_tensors.Image, on
batches, and per sample in DataLoader workers that fork."""

import re

import numpy as np
import pytest

import histeq

torch = pytest.importorskip("torch")
transforms = pytest.importorskip("histeq.transforms")

RNG = np.random.default_rng(3)
BATCH = RNG.integers(30, 180, (6, 3, 40, 36), dtype=np.uint8)


def test_equalize_and_clahe_equal_the_functions_on_each_plane():
    batch = torch.from_numpy(BATCH)
    np.testing.assert_array_equal(transforms.Equalize()(batch).numpy(), histeq.equalize(BATCH, axes=(-2, -1)))
    np.testing.assert_array_equal(
        transforms.CLAHE(tiles=(4, 3), clip_limit=3.0)(batch).numpy(),
        histeq.clahe(BATCH, axes=(-2, -1), tiles=(4, 3), clip_limit=3.0),
    )
    rgb = transforms.Equalize(color="luma")(batch).numpy()
    np.testing.assert_array_equal(rgb, histeq.equalize(BATCH, axes=(-2, -1), channel_axis=-3, color="luma"))


def test_clahe_regions_by_size():
    batch = torch.from_numpy(BATCH)
    sized = transforms.CLAHE(kernel_size=(10, 12))
    np.testing.assert_array_equal(sized(batch).numpy(), histeq.clahe(BATCH, axes=(-2, -1), tiles=(4, 3)))
    microns = transforms.CLAHE(kernel_size=5, spacing=0.5)  # 10 pixels
    np.testing.assert_array_equal(microns(batch).numpy(), histeq.clahe(BATCH, axes=(-2, -1), tiles=(4, 4)))
    assert "kernel_size=5, spacing=0.5" in repr(microns)
    # Larger than the image: one region, as tile counts are fitted to small images.
    np.testing.assert_array_equal(
        transforms.CLAHE(kernel_size=(20, 100))(batch).numpy(), histeq.clahe(BATCH, axes=(-2, -1), tiles=(2, 1))
    )
    with pytest.raises(ValueError, match="not both"):
        transforms.CLAHE(tiles=4, kernel_size=8)
    with pytest.raises(ValueError, match="positive"):
        transforms.CLAHE(kernel_size=(8, 0))


def test_a_batch_equals_its_samples_one_by_one():
    batch = torch.from_numpy(BATCH)
    for transform in (transforms.Equalize(), transforms.CLAHE(tiles=5)):
        whole = transform(batch)
        for k in range(len(batch)):
            assert torch.equal(whole[k], transform(batch[k]))


@pytest.mark.parametrize("name", ["astronaut", "camera", "moon", "coffee"])
def test_compat_pillow_equals_torchvision_equalize(name):
    # torchvision's equalize follows Pillow's ImageOps.equalize rule, per channel; compat="pillow" is that rule.
    from skimage import data

    functional = pytest.importorskip("torchvision.transforms.v2.functional")
    image = getattr(data, name)()
    image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1) if image.ndim == 3 else image[None]))
    assert torch.equal(transforms.Equalize(compat="pillow")(image), functional.equalize(image))


def test_inside_a_torchvision_pipeline_with_tv_tensors():
    v2 = pytest.importorskip("torchvision.transforms.v2")
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    photo = np.ascontiguousarray(BATCH[0].transpose(1, 2, 0))  # H, W, C as images are read
    pipeline = v2.Compose(
        [v2.ToImage(), transforms.CLAHE(tiles=4, color="lightness"), v2.ToDtype(torch.float32, scale=True)]
    )
    out = pipeline(photo)
    assert type(out) is tv_tensors.Image and out.dtype == torch.float32 and out.shape == (3, 40, 36)
    expected = histeq.clahe(photo, tiles=4, channel_axis=-1, color="lightness").transpose(2, 0, 1)
    np.testing.assert_array_equal((out * 255).round().to(torch.uint8).numpy(), expected)


def test_random_clahe_draws_per_sample_and_equals_clahe_with_its_draws():
    generator = torch.Generator().manual_seed(5)
    random = transforms.RandomCLAHE(clip_limit=(1.5, 3.5), tiles=(2, 6), generator=generator)
    out = random(torch.from_numpy(BATCH))
    replay = transforms.RandomCLAHE(clip_limit=(1.5, 3.5), tiles=(2, 6), generator=torch.Generator().manual_seed(5))
    draws = [replay.draw() for _ in range(len(BATCH))]
    assert len({(clip, tiles) for _, clip, tiles in draws}) == len(BATCH)  # parameters differ per sample
    for k, (_, clip, tiles) in enumerate(draws):
        assert 1.5 <= clip <= 3.5 and 2 <= tiles <= 6
        np.testing.assert_array_equal(
            out[k].numpy(), histeq.clahe(BATCH[k], axes=(-2, -1), tiles=tiles, clip_limit=clip)
        )


def test_random_clahe_with_p_zero_changes_nothing_and_bad_ranges_are_refused():
    batch = torch.from_numpy(BATCH)
    assert torch.equal(transforms.RandomCLAHE(p=0.0)(batch), batch)
    with pytest.raises(ValueError, match="clip_limit"):
        transforms.RandomCLAHE(clip_limit=(3.0, 2.0))
    with pytest.raises(ValueError, match="tiles"):
        transforms.RandomCLAHE(tiles=(0, 4))
    with pytest.raises(ValueError, match="shape"):
        transforms.Equalize()(torch.zeros(5, 5, dtype=torch.uint8))


class _Samples(torch.utils.data.Dataset):
    def __len__(self):
        return len(BATCH)

    def __getitem__(self, k):
        return transforms.CLAHE(tiles=4)(torch.from_numpy(BATCH[k]))


def test_in_a_data_loader_with_two_forking_workers():
    loader = torch.utils.data.DataLoader(_Samples(), batch_size=2, num_workers=2, multiprocessing_context="fork")
    out = torch.cat(list(loader))
    np.testing.assert_array_equal(out.numpy(), histeq.clahe(BATCH, axes=(-2, -1), tiles=4))


class _Augmented(torch.utils.data.Dataset):
    augment = transforms.RandomCLAHE(clip_limit=(1.0, 4.0), tiles=(2, 6))

    def __len__(self):
        return len(BATCH)

    def __getitem__(self, k):
        return self.augment(torch.from_numpy(BATCH[k]))


def test_random_clahe_in_data_loader_workers_is_reproducible_under_a_seed():
    """Each worker draws from its own torch seed, which the loader derives from its generator: the same seed
    gives the same augmented epoch, another seed another one."""

    def epoch(seed):
        loader = torch.utils.data.DataLoader(
            _Augmented(),
            batch_size=2,
            num_workers=2,
            multiprocessing_context="fork",
            generator=torch.Generator().manual_seed(seed),
        )
        return torch.cat(list(loader))

    first, again, other = epoch(3), epoch(3), epoch(4)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_the_examples_run():
    import doctest

    assert doctest.testmod(transforms, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


@pytest.mark.parametrize(
    "name, value, error",
    [
        ("clip_limit", (1.0, float("inf")), ValueError),  # was accepted, and refused at the first call
        ("clip_limit", (1.0, float("nan")), ValueError),
        ("clip_limit", (True, 2.0), TypeError),
        ("tiles", (2.5, 3), TypeError),  # was truncated to (2, 3)
        ("tiles", (2, 3.0), TypeError),
        ("tiles", (False, 3), TypeError),
    ],
)
def test_random_clahe_refuses_at_construction_what_clahe_refuses(name, value, error):
    with pytest.raises(error, match=f"^{name} must be a range .*, got {re.escape(repr(value))}"):
        transforms.RandomCLAHE(**{name: value})
    # the same rule as histeq.clahe's for one tile count or clip limit
    with pytest.raises(error):
        for end in value:
            histeq.clahe(BATCH[0], axes=(-2, -1), **{name: (end, end) if name == "tiles" else end})


def test_random_clahe_ranges_have_two_ends():
    with pytest.raises(ValueError, match=r"tiles must be a range \(fewest, most\).*, got \(2, 3, 4\)"):
        transforms.RandomCLAHE(tiles=(2, 3, 4))
    with pytest.raises(TypeError, match="clip_limit must be a range .*, got 2.0"):
        transforms.RandomCLAHE(clip_limit=2.0)


def test_clahe_module_refuses_at_construction_what_clahe_refuses():
    # _fitting used to truncate tiles=(2.5, 3) to (2, 3), which histeq.clahe refuses; now the module is not made
    with pytest.raises(TypeError, match=r"tiles must hold ints, got \(2\.5, 3\)"):
        transforms.CLAHE(tiles=(2.5, 3))
    with pytest.raises(ValueError, match="clip_limit must be a finite number >= 1"):
        transforms.CLAHE(clip_limit=float("inf"))
    transforms.CLAHE(clip_limit=0.5, compat="opencv")  # OpenCV's own clip limits, as histeq.clahe takes them


@pytest.mark.parametrize("shape", [(0, 1, 8, 8), (2, 0, 8, 8), (3, 1, 0, 8)])
def test_empty_batches_are_refused_by_every_module(shape):
    empty = torch.zeros(shape, dtype=torch.uint8)
    for transform in (transforms.Equalize(), transforms.CLAHE(tiles=2), transforms.RandomCLAHE(tiles=(1, 2))):
        with pytest.raises(ValueError, match=re.escape(f"image is empty (shape {shape}); there is nothing to")):
            transform(empty)


def _sample():
    """A detection/segmentation sample as a v2 pipeline passes it: an image, boxes, a mask, keypoints, a label."""
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    image = tv_tensors.Image(torch.from_numpy(BATCH[0]))
    boxes = tv_tensors.BoundingBoxes([[2, 3, 20, 30]], format="XYXY", canvas_size=(40, 36))
    mask = tv_tensors.Mask(torch.from_numpy((BATCH[0, 0] > 100).astype(np.uint8)))
    points = tv_tensors.KeyPoints([[5.0, 6.0]], canvas_size=(40, 36))
    return {"image": image, "boxes": boxes, "masks": mask, "points": points, "label": 3, "extra": torch.ones(7)}


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: transforms.Equalize(), lambda image: histeq.equalize(image, axes=(-2, -1))),
        (lambda: transforms.CLAHE(tiles=3), lambda image: histeq.clahe(image, axes=(-2, -1), tiles=3)),
    ],
    ids=["Equalize", "CLAHE"],
)
def test_a_v2_sample_keeps_everything_but_its_image(make, expected):
    """A dict sample through v2.Compose: the image transformed (still a tv_tensors.Image), the boxes, mask,
    keypoints, label and any other tensor passed through as they were."""
    v2 = pytest.importorskip("torchvision.transforms.v2")
    sample = _sample()
    out = v2.Compose([make()])(sample)
    assert set(out) == set(sample)
    assert type(out["image"]) is type(sample["image"])
    np.testing.assert_array_equal(out["image"].numpy(), expected(BATCH[0]))
    for key in ("boxes", "masks", "points", "extra"):
        assert type(out[key]) is type(sample[key]) and torch.equal(out[key], sample[key]), key
    assert out["label"] == 3


def test_a_tuple_with_a_plain_image_and_a_mask_and_a_video():
    """A tuple (plain tensor, Mask): the plain tensor is the image (v2's rule when no tv_tensors.Image is in the
    sample), the mask passes; a Video is equalized frame by frame."""
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    image = torch.from_numpy(BATCH[1])
    mask = tv_tensors.Mask(torch.from_numpy((BATCH[1, 0] > 90).astype(np.uint8)))
    out_image, out_mask = transforms.Equalize()((image, mask))
    np.testing.assert_array_equal(out_image.numpy(), histeq.equalize(BATCH[1], axes=(-2, -1)))
    assert torch.equal(out_mask, mask) and type(out_mask) is type(mask)
    video = tv_tensors.Video(torch.from_numpy(BATCH[:4]))  # (T, C, H, W)
    out = transforms.CLAHE(tiles=2)(video)
    assert type(out) is tv_tensors.Video
    np.testing.assert_array_equal(out.numpy(), histeq.clahe(BATCH[:4], axes=(-2, -1), tiles=2))


def test_a_pil_image_in_a_sample_is_transformed_and_stays_a_pil_image():
    pytest.importorskip("torchvision.transforms.v2")
    from PIL import Image

    grey = Image.fromarray(BATCH[2, 0])
    rgb = Image.fromarray(np.ascontiguousarray(BATCH[2].transpose(1, 2, 0)))
    out_grey, label = transforms.Equalize()((grey, 1))
    assert isinstance(out_grey, Image.Image) and out_grey.mode == "L" and label == 1
    np.testing.assert_array_equal(np.asarray(out_grey), histeq.equalize(BATCH[2, 0]))
    out_rgb = transforms.Equalize(color="lightness")(rgb)
    expected = histeq.equalize(np.asarray(rgb), channel_axis=-1, color="lightness")
    assert out_rgb.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out_rgb), expected)


def test_random_clahe_applies_each_samples_own_draw():
    """Six copies of one face crop: each output is CLAHE with its own draw, so copies with different draws differ
    (kornia's RandomClahe draws per image but applies the first draw to the whole batch, which fails here)."""
    from skimage import data

    face = np.ascontiguousarray(data.astronaut()[30:130, 170:270, 0])
    batch = torch.from_numpy(np.stack([face[None]] * 6))
    out = transforms.RandomCLAHE(clip_limit=(1.0, 4.0), tiles=(2, 8), generator=torch.Generator().manual_seed(9))(batch)
    replay = transforms.RandomCLAHE(clip_limit=(1.0, 4.0), tiles=(2, 8), generator=torch.Generator().manual_seed(9))
    draws = [replay.draw() for _ in range(6)]
    for k, (_, clip, tiles) in enumerate(draws):
        np.testing.assert_array_equal(out[k, 0].numpy(), histeq.clahe(face, tiles=tiles, clip_limit=clip))
    assert len({out[k].numpy().tobytes() for k in range(6)}) == len({(c, t) for _, c, t in draws}) > 1


def test_random_clahe_in_a_sample_draws_once_for_the_sample():
    """A dict sample's image gets the sample's draws; the draws follow torch.manual_seed."""
    v2 = pytest.importorskip("torchvision.transforms.v2")
    pipeline = v2.Compose([transforms.RandomCLAHE(tiles=(2, 5))])
    torch.manual_seed(4)
    first = pipeline(_sample())
    torch.manual_seed(4)
    again = pipeline(_sample())
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["masks"], _sample()["masks"])
    torch.manual_seed(4)
    (_, clip, tiles) = transforms.RandomCLAHE(tiles=(2, 5)).draw()
    np.testing.assert_array_equal(
        first["image"].numpy(), histeq.clahe(BATCH[0], axes=(-2, -1), tiles=tiles, clip_limit=clip)
    )


def test_without_torchvision_the_transforms_are_modules_of_one_tensor():
    """Where torchvision is missing (histeq[torch] alone) the transforms are plain nn.Modules taking one tensor."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['torchvision'] = None\n"  # an import of torchvision now fails
        "import numpy as np, torch, histeq\n"
        "from histeq import transforms\n"
        "assert transforms.Equalize.__mro__[2] is torch.nn.Module  # Equalize, the base, then Module\n"
        "batch = torch.randint(0, 256, (2, 1, 20, 24), dtype=torch.uint8)\n"
        "out = transforms.RandomCLAHE(tiles=(2, 3), generator=torch.Generator().manual_seed(1))(batch)\n"
        "assert out.shape == batch.shape and out.dtype == batch.dtype\n"
        "expected = torch.from_numpy(histeq.equalize(batch.numpy(), axes=(-2, -1)))\n"
        "assert torch.equal(transforms.Equalize()(batch), expected)\n"
        "print('plain modules')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "plain modules" in done.stdout, done.stderr[-3000:]


def test_random_clahe_refuses_a_sample_whose_images_have_other_batches():
    tv_tensors = pytest.importorskip("torchvision.tv_tensors")
    sample = {
        "image": tv_tensors.Image(torch.from_numpy(BATCH[:2])),
        "video": tv_tensors.Video(torch.from_numpy(BATCH)),
    }
    with pytest.raises(ValueError, match="draws once per image of a sample's batch"):
        transforms.RandomCLAHE(tiles=(2, 3))(sample)
