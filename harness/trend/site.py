"""An asv site that opens offline: asv's ``index.html`` loads jQuery, flot, bootstrap,
stupidtable and md5 from CDNs. Each is fetched once from the npm registry (``npm pack``),
checked against the integrity pinned here, cached, copied beside the page, and the page is
rewritten to load the copies. A CDN address this module does not know (asv moved) stops the
publish with one line rather than leaving a page that fails offline."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from memreplay.errors import UserError
from memreplay.records.atomic import atomic_write_text

__all__ = ["PACKAGES", "ASSETS", "vendor_assets"]


@dataclass(frozen=True)
class Package:
    spec: str  # name@version on the npm registry
    tarball: str  # what `npm pack` names it
    integrity: str  # the registry's sha512, pinned


PACKAGES = {p.spec: p for p in (
    Package("jquery@3.3.1", "jquery-3.3.1.tgz",
            "sha512-Ubldcmxp5np52/ENotGxlLe6aGMvmF4R8S6tZjsP6Knsaxd/xp3Zrh50cG93lR6nPXyUFwzN3ZSOQI0wRJNdGg=="),
    Package("flot@0.8.3", "flot-0.8.3.tgz",
            "sha512-xg2otcTJDvS+ERK+my4wxG/ASq90QURXtoM4LhacCq0jQW2jbyjdttbRNqU2cPykrpMvJ6b2uSp6SAgYAzj9tQ=="),
    Package("flot-orderbars@1.0.0", "flot-orderbars-1.0.0.tgz",
            "sha512-Jv51fvzevUjNXEeozpwEKfPjhiZhfiJddv0WHjduUTCmSF+7T5K7C9c9Y1wIVmUhDBv5fLMjgbwKecT0GIKPZA=="),
    # cdnjs's stupidtable 1.0.1 is not on npm; 1.1.3, the same plugin's next release, is
    Package("stupid-table-plugin@1.1.3", "stupid-table-plugin-1.1.3.tgz",
            "sha512-2Vk7XouQPxUQPRe9w0Fu7ZZ8kHLK7rDoLMsCgtKxRNJ7f4dSOGvW9CkHsq5wD6QsaEnWoyLBYH3xOEsrK3yWBg=="),
    Package("blueimp-md5@2.19.0", "blueimp-md5-2.19.0.tgz",
            "sha512-DRQrD6gJyy8FbiE4s+bDoXS9hiW3Vbx5uCdwvcCf3zLHL+Iv7LtGHLpr+GZV8rHG8tK766FGYBwRbu8pELTt+w=="),
    Package("bootstrap@3.1.1", "bootstrap-3.1.1.tgz",
            "sha512-TAzqS8E/ISpVHP29gYhy+1NSV+FJwApDVQhDfgLYsIuUDJiqJzH2DfORN5tiu+Ie2iBLrzEG34t4Rf465cigqg=="),
)}

_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
# asv 0.6's CDN address → (npm package, file in its tarball, where the copy goes under vendor/)
ASSETS: dict[str, tuple[str, str, str]] = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "dist/jquery.min.js", "jquery.min.js"),
    f"{_CDNJS}/flot/0.8.3/jquery.flot.min.js": ("flot@0.8.3", "jquery.flot.js", "jquery.flot.js"),
    f"{_CDNJS}/flot/0.8.3/jquery.flot.time.min.js": ("flot@0.8.3", "jquery.flot.time.js", "jquery.flot.time.js"),
    f"{_CDNJS}/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "jquery.flot.selection.js", "jquery.flot.selection.js"),
    f"{_CDNJS}/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "jquery.flot.categories.js", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js", "jquery.flot.orderBars.js"),
    f"{_CDNJS}/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "stupidtable.min.js", "stupidtable.min.js"),
    f"{_CDNJS}/blueimp-md5/2.19.0/js/md5.min.js": ("blueimp-md5@2.19.0", "js/md5.min.js", "md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap@3.1.1", "dist/js/bootstrap.min.js", "bootstrap/js/bootstrap.min.js"),
    # the stylesheet finds its icon font at ../fonts/, copied beside it below
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "dist/css/bootstrap.min.css", "bootstrap/css/bootstrap.min.css"),
}
_FONTS = ("bootstrap@3.1.1", "dist/fonts/", "bootstrap/fonts/")

_REMOTE_TAG = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)=\"(https?://[^\"]+)\"[^>]*>")
_CDN_ONLY = re.compile(r"\s(?:integrity|crossorigin|referrerpolicy)=\"[^\"]*\"")


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _fetch(package: Package, cache: Path) -> Path:
    """The package's tarball from the cache, or from the npm registry; checked either way."""
    tarball = cache / package.tarball
    if not tarball.exists() or _integrity(tarball) != package.integrity:
        if shutil.which("npm") is None:
            raise UserError(f"npm not found: the asv site's scripts come from the npm registry "
                            f"({package.spec}); install Node.js and npm")
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "pack", package.spec, "--pack-destination", str(cache)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not tarball.exists():
            said = [line.removeprefix("npm error ") for line in done.stderr.splitlines()
                    if line.startswith("npm error") and not line.startswith("npm error code")]
            raise UserError(f"npm pack {package.spec}: {said[0] if said else 'no tarball written'}")
    if _integrity(tarball) != package.integrity:
        raise UserError(f"{tarball}: integrity differs from the registry's {package.integrity[:20]}...")
    return tarball


def _copy(tarball: Path, member: str, target: Path) -> None:
    """One file of the tarball to ``target``; a member ending in / is a folder, copied whole."""
    prefix = f"package/{member}"
    folder = member.endswith("/")
    with tarfile.open(tarball) as archive:
        files = [m for m in archive.getmembers()
                 if m.isfile() and (m.name == prefix or (folder and m.name.startswith(prefix)))]
        if not files:
            raise UserError(f"{tarball.name}: has no {member}")
        for info in files:
            destination = target / info.name.removeprefix(prefix) if folder else target
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(info)
            assert source is not None  # a regular file
            destination.write_bytes(source.read())


def vendor_assets(html_dir: Path, cache: Path) -> list[str]:
    """Copy every CDN asset of the published site's ``index.html`` into ``vendor/`` and point the
    page at the copies. Returns the copies' paths, relative to ``html_dir``."""
    index = html_dir / "index.html"
    try:
        page = index.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(f"{index}: {error.strerror or error} (was the site published?)") from None
    vendor = html_dir / "vendor"
    copied = []

    def local(match: re.Match[str]) -> str:
        tag, url = match.group(0), match.group(2)
        if url not in ASSETS:
            raise UserError(f"{index}: loads {url}, which memreplay does not vendor (asv changed?)")
        spec, member, target = ASSETS[url]
        _copy(_fetch(PACKAGES[spec], cache), member, vendor / target)
        copied.append(f"vendor/{target}")
        return _CDN_ONLY.sub("", tag.replace(url, f"vendor/{target}"))

    page = _REMOTE_TAG.sub(local, page)
    spec, member, target = _FONTS
    _copy(_fetch(PACKAGES[spec], cache), member, vendor / target)
    atomic_write_text(index, page)
    return copied
