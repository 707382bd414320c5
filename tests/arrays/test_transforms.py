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
