import numpy as np
import pytest

from lutsr.runtime.reference import rescale_reference
from lutsr.spec import EXPAND_DIRECTIONS, KERNELS, METHODS, levels_for_interval, reflect_index, rotation_neighbor_offsets


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


def test_eclut_rescale_rule():
    # ECLUT: 4 rotations x 9 maps summed, (acc + 2) >> 2 -- half up, floor for negatives, clipped
    m = METHODS["eclut"]
    st = m.stages[0]
    assert (st.divisor, st.bias, st.rounding, st.pad_mode) == (4, 0, "half_up", "edge")
    assert m.value_encoding == "uint8-excess128" and m.value_offset == 128 and m.alpha == pytest.approx(255 / 9)
    acc = np.array([0, 1, 2, 5, 6, -1, -2, -3, 1019, 1022, 5000])
    want = np.clip((acc + 2) >> 2, 0, 255)
    assert list(rescale_reference(acc, 1, st.divisor, st.bias, st.rounding)) == list(want)
    assert list(want) == [0, 0, 1, 1, 2, 0, 0, 0, 255, 255, 255]
    assert m.cells(st, st.units[0], 4) == 144 and KERNELS["2x1"].pad_bottom == 1 and KERNELS["2x1"].pad_right == 0
