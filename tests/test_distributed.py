"""lutsr.distributed.upscale_files on a Dask LocalCluster: same bytes as the local path, failures listed."""

import cv2
import numpy as np
import pytest

pytest.importorskip("dask", reason="dask not installed (pip install 'lutsr[dask]')")
pytest.importorskip("distributed", reason="distributed not installed (pip install 'lutsr[dask]')")

from lutsr.distributed import upscale_files  # noqa: E402


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    cl = Client(c)
    yield cl
    cl.close()
    c.close()


def _folder(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(4):
        cv2.imwrite(str(src / f"g{k}.png"), rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "sub" / "gray.png"), rng.integers(0, 256, (9, 7), dtype=np.uint8))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (src / "empty.jpg").write_bytes(b"")
    return src


def test_upscale_files_mixed_folder(client, tmp_path):
    from lutsr.imageio import load_image
    from lutsr.lut.shipped import default_lut_path
    from lutsr.runtime import upscale

    src = _folder(tmp_path)
    out = tmp_path / "out"
    lut = default_lut_path(2)
    res = upscale_files(src, out, client=client, lut=lut, suffix="_x2")
    assert sorted(p.name for p, _ in res.failed) == ["broken.png", "empty.jpg"]
    assert all(msg and "\n" not in msg for _, msg in res.failed)
    assert len(res.written) == 5 and (out / "sub" / "gray_x2.png").exists()
    assert not (out / "broken_x2.png").exists() and not list(out.rglob("*.tmp*"))
    from lutsr.lut.file import load_lut

    ref = upscale(load_image(src / "g0.png").pixels, load_lut(lut))
    assert np.array_equal(load_image(out / "g0_x2.png").pixels, ref)
    # never overwrite: a second run fails the existing ones and leaves their bytes alone
    before = (out / "g0_x2.png").read_bytes()
    (out / "g1_x2.png").write_bytes(b"keep me")
    again = upscale_files(src, out, client=client, lut=lut, suffix="_x2")
    assert len(again.written) == 0 and len(again.failed) == 7
    assert (out / "g0_x2.png").read_bytes() == before and (out / "g1_x2.png").read_bytes() == b"keep me"
    # skip-existing: the existing outputs are skipped, the broken files still fail
    skip = upscale_files(src, out, client=client, lut=lut, suffix="_x2", skip_existing=True)
    assert len(skip.skipped) == 5 and len(skip.failed) == 2 and not skip.written
    # overwrite replaces
    ow = upscale_files([src / "g1.png"], out, client=client, lut=lut, suffix="_x2", overwrite=True)
    assert ow.written == [out / "g1_x2.png"] and (out / "g1_x2.png").read_bytes() != b"keep me"


def test_lut_is_sent_once_per_worker(client, tmp_path):
    from lutsr.lut.shipped import default_lut_path

    src = _folder(tmp_path)
    upscale_files(src, tmp_path / "o", client=client, lut=default_lut_path(2))

    def cached():
        from lutsr import distributed

        return sorted(distributed._worker_luts)

    per_worker = client.run(cached)
    used = [v for v in per_worker.values() if v]
    assert used and all(len(v) == 1 for v in used)  # one LUT object per worker, keyed by its sha256
