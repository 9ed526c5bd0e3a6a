import numpy as np
import pytest

from lutsr.spec import ECLUT, EXPAND_DIRECTIONS, KERNELS, levels_for_interval, reflect_index, rotation_neighbor_offsets


@pytest.mark.parametrize("k", range(4))
@pytest.mark.parametrize("offset", [(1, 0), (0, 1), (1, 1), (0, 2), (2, 1)])
def test_rotation_neighbor_offsets_match_rot90(k, offset):
    img = np.arange(7 * 9).reshape(7, 9)
    rot = np.rot90(img, k)
    (oy, ox), = rotation_neighbor_offsets((offset,), k)
    dy, dx = offset
    # every interior pixel of the rotated image: its neighbour (dy, dx) is original neighbour (oy, ox)
    for i in range(rot.shape[0] - dy):
        for j in range(rot.shape[1] - dx):
            y, x = np.argwhere(img == rot[i, j])[0]
            assert rot[i + dy, j + dx] == img[y + oy, x + ox]


def test_levels_for_interval():
    assert levels_for_interval(0) == (1, 257)
    assert levels_for_interval(4) == (16, 17)
    assert levels_for_interval(8) == (256, 2)
    for bad in (-1, 9, 1.5, "4"):
        with pytest.raises(ValueError):
            levels_for_interval(bad)


def test_reflect_index_matches_numpy_pad():
    for n in (2, 3, 8):
        x = np.arange(n)
        padded = np.pad(x, 1, mode="reflect")
        assert np.array_equal(x[reflect_index(np.arange(-1, n + 1), n)], padded)


def test_expand_directions_grid_order():
    assert EXPAND_DIRECTIONS[0] == (-1, -1) and EXPAND_DIRECTIONS[4] == (0, 0) and EXPAND_DIRECTIONS[8] == (1, 1)
    assert len(set(EXPAND_DIRECTIONS)) == 9


def test_eclut_quantize_and_rescale_rules():
    # cell = clip(floor(alpha*o + 0.5), -128, 127) + 128
    o = np.array([0.0, 1 / ECLUT.alpha * 0.5, -1 / ECLUT.alpha * 0.5, 100.0, -100.0])
    assert list(ECLUT.quantize(o)) == [128, 129, 128, 255, 0]
    # (acc + 2) >> 2 rounds half up (toward +inf), floors for negatives, clips
    acc = np.array([0, 1, 2, 5, 6, -1, -2, -3, 1019, 1022, 5000])
    assert list(ECLUT.rescale(acc)) == [0, 0, 1, 1, 2, 0, 0, 0, 255, 255, 255]
    assert ECLUT.n_cells(4) == 144 and KERNELS["2x1"].pad_bottom == 1 and KERNELS["2x1"].pad_right == 0
