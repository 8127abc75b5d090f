"""Worker start-up stays lean: unused Scrapy components and Pillow plugins are not imported.

Each check runs in a fresh interpreter, so ``sys.modules`` shows what a crawl worker
really imports (docs/crawler.md, Performance, items 5-6).
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image


def _run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_scrapy_components_resolved_without_unused_imports() -> None:
    out = _run(
        """
        import sys
        from scrapy.settings import Settings
        from pcbforge.config import CrawlParams
        from pcbforge.crawler.settings import build_settings

        s = Settings(build_settings(CrawlParams().model_dump(mode="json"), out="o", journal="j", prior_journals=[]))
        ext = s.get_component_priority_dict_with_base("EXTENSIONS")
        mw = s.get_component_priority_dict_with_base("DOWNLOADER_MIDDLEWARES")
        assert "scrapy.extensions.throttle.AutoThrottle" in ext and "pcbforge.crawler.extensions.ProgressLog" in ext
        assert "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware" in mw
        assert "pcbforge.crawler.middlewares.StrictOffsiteMiddleware" in mw
        assert s.getwithbase("DOWNLOAD_HANDLERS")["https"]
        # What Scrapy's component managers do: import every enabled class, which may then
        # decline with NotConfigured (AutoThrottle when it is off ...).
        from scrapy.utils.conf import build_component_list
        from scrapy.utils.misc import load_object
        for path in build_component_list(ext) + build_component_list(mw):
            load_object(path)
        print(sorted(m for m in ("aiohttp", "tldextract") if m in sys.modules))
        """
    )
    assert out == "[]"


def test_decoding_accepted_formats_loads_only_their_plugins(tmp_path: Path) -> None:
    formats = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
    for fmt in formats:  # encoded here: encoding in the child would load plugins itself
        buf = io.BytesIO()
        Image.new("RGB", (9, 7)).save(buf, fmt)
        (tmp_path / fmt).write_bytes(buf.getvalue())
    out = _run(
        f"""
        import sys
        from pathlib import Path
        from pcbforge.crawler.pipelines import inspect_image

        bodies = [Path({str(tmp_path)!r}, f).read_bytes() for f in {formats!r}]
        before = {{m for m in sys.modules if m.startswith("PIL.") and m.endswith("ImagePlugin")}}
        print([inspect_image(body, 10**6) for body in bodies])
        after = {{m for m in sys.modules if m.startswith("PIL.") and m.endswith("ImagePlugin")}}
        print(sorted(after - before))
        """
    )
    shapes, new_plugins = out.splitlines()
    assert shapes == str([(f, 9, 7) for f in formats])
    # Pillow's preinit() adds PPM to the accepted ones; init() would add ~40 others.
    assert new_plugins in ("[]", "['PIL.PpmImagePlugin']")
