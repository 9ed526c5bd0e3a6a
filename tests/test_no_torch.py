"""The upscale path never imports torch (checked in a fresh interpreter where torch cannot load)."""

import subprocess
import sys
import textwrap


def test_import_and_upscale_without_torch(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, Block())
        import numpy as np
        import lutsr
        from lutsr.lut.file import Lut, make_eclut_header
        from lutsr.cli import main
        lut = Lut(header=make_eclut_header(2), tables=[np.full((257 * 257, 36), 140, np.uint8)])
        out = lutsr.upscale(np.zeros((3, 4, 3), np.uint8), lut)
        assert out.shape == (6, 8, 3) and int(out[0, 0, 0]) == 108, out[0, 0]
        try:
            main(["sample", r"{tmp_path / 's.png'}"])
        except SystemExit as e:
            assert e.code in (0, None), e.code
        try:
            main(["upscale", r"{tmp_path / 's.png'}", r"{tmp_path / 'o.png'}"])
        except SystemExit as e:
            assert e.code in (0, None), e.code
        assert "torch" not in sys.modules
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("ok")
    assert (tmp_path / "o.png").is_file()
