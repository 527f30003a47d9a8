"""Fetch a dataset archive with gdown, verify its checksum, and extract it safely.

Used by the `download` rule (as a Snakemake script) and on its own:

    python workflow/scripts/download.py --url URL --checksum md5:HEX --out resources/datasets/X
    python workflow/scripts/download.py --gdrive-id ID --checksum sha256:HEX --out DIR

The archive is downloaded and extracted inside a private temporary folder next to the target,
and only a verified, completely extracted tree is renamed into place. A checksum mismatch, a
broken archive, a member that would land outside the target (absolute path, `..`, a link that
points outside, a device file), a missing expected file, or a network error that outlasts the
retries all end with one line on stderr, exit status 1, and no file left behind.
"""

import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath

HASHES = {"md5": hashlib.md5, "sha256": hashlib.sha256}


class DownloadFailed(Exception):
    """A download that must not be used; the message is the one line shown to the user."""


def parse_checksum(spec: str) -> tuple[str, str]:
    algo, _, digest = spec.partition(":")
    algo = algo.strip().lower()
    digest = digest.strip().lower()
    if algo not in HASHES or not digest:
        raise DownloadFailed(f"checksum {spec!r} is not md5:<hex> or sha256:<hex>")
    if len(digest) != HASHES[algo]().digest_size * 2:
        raise DownloadFailed(f"checksum {spec!r} has the wrong length for {algo}")
    return algo, digest


def file_digest(path: Path, algo: str) -> str:
    hasher = HASHES[algo]()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _network_errors() -> tuple[type[BaseException], ...]:
    import requests
    from gdown.exceptions import DownloadError

    return (requests.exceptions.RequestException, DownloadError, ConnectionError, TimeoutError)


def fetch(
    dest: Path,
    *,
    url: str | None = None,
    gdrive_id: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    log=print,
) -> None:
    """Download one file to `dest` with gdown, retrying network errors with a backoff."""
    import gdown

    source = url or f"Google Drive id {gdrive_id}"
    errors = _network_errors()
    for attempt in range(retries + 1):
        try:
            result = gdown.download(
                url=url,
                id=gdrive_id,
                output=str(dest),
                quiet=True,
                use_cookies=False,
                timeout=timeout,
            )
        except errors as err:
            for partial in dest.parent.glob(dest.name + "*"):
                partial.unlink()
            reason = f"{type(err).__name__}: {err}".splitlines()[0]
            if attempt == retries:
                raise DownloadFailed(
                    f"cannot download {source} after {retries + 1} attempts: {reason}"
                ) from err
            wait = min(2.0**attempt, 30.0)
            log(f"download: attempt {attempt + 1} failed ({reason}); retrying in {wait:.0f} s")
            time.sleep(wait)
            continue
        if result is None or not dest.is_file():
            raise DownloadFailed(f"cannot download {source}: no file was written")
        return


def _check_member_path(name: str, root: Path) -> Path:
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")):
        raise DownloadFailed(f"archive member {name!r} has an absolute path")
    if ".." in path.parts:
        raise DownloadFailed(f"archive member {name!r} would escape the target folder")
    resolved = (root / path).resolve()
    if resolved != root and root not in resolved.parents:
        raise DownloadFailed(f"archive member {name!r} would escape the target folder")
    return resolved


def _check_tar(tar: tarfile.TarFile, root: Path) -> None:
    for member in tar.getmembers():
        target = _check_member_path(member.name, root)
        if member.issym() or member.islnk():
            link = PurePosixPath(member.linkname)
            if link.is_absolute():
                raise DownloadFailed(f"archive member {member.name!r} links to an absolute path")
            base = target.parent if member.issym() else root
            resolved = (base / link).resolve()
            if resolved != root and root not in resolved.parents:
                raise DownloadFailed(
                    f"archive member {member.name!r} links outside the target folder"
                )
        elif not (member.isfile() or member.isdir()):
            raise DownloadFailed(f"archive member {member.name!r} is not a file or folder")


def safe_extract(archive: Path, root: Path) -> None:
    """Extract a tar (any compression) or zip archive below `root`, refusing unsafe members."""
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    try:
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                _check_tar(tar, root)
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(root, filter="data")
                else:  # Python without extraction filters: members were checked above
                    tar.extractall(root)
        elif zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    _check_member_path(name, root)
                bad = zf.testzip()
                if bad is not None:
                    raise DownloadFailed(f"archive member {bad!r} is corrupt")
                zf.extractall(root)
        else:
            raise DownloadFailed("the download is not a tar or zip archive")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        raise DownloadFailed(f"broken archive: {reason}") from err


def install(
    target: Path,
    *,
    checksum: str,
    url: str | None = None,
    gdrive_id: str | None = None,
    expect: list[str] | tuple[str, ...] = (),
    retries: int = 3,
    timeout: float = 60.0,
    log=print,
) -> Path:
    """Download, verify and extract into `target` (which must not exist yet); atomic."""
    if (url is None) == (gdrive_id is None):
        raise DownloadFailed("give exactly one of url and gdrive_id")
    algo, wanted = parse_checksum(checksum)
    target = Path(target)
    if target.exists():
        raise DownloadFailed(f"{target} already exists; remove it to download again")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.download-", dir=target.parent))
    try:
        archive = work / "archive"
        log(f"download: fetching {url or 'Google Drive id ' + str(gdrive_id)}")
        fetch(archive, url=url, gdrive_id=gdrive_id, retries=retries, timeout=timeout, log=log)
        got = file_digest(archive, algo)
        if got != wanted:
            raise DownloadFailed(f"{algo} checksum mismatch: expected {wanted}, got {got}")
        log(f"download: {algo} checksum {got} verified")
        tree = work / "tree"
        safe_extract(archive, tree)
        missing = [p for p in expect if not (tree / p).exists()]
        if missing:
            raise DownloadFailed(f"the archive lacks {', '.join(missing)}")
        os.replace(tree, target)
        log(f"download: extracted into {target}")
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _main_snakemake(smk) -> int:
    spec = dict(smk.params.spec)
    target = Path(smk.output[0])
    with open(smk.log[0], "w") as logfile:

        def log(message: str) -> None:
            print(message, file=logfile, flush=True)

        try:
            install(
                target,
                checksum=spec["checksum"],
                url=spec.get("url"),
                gdrive_id=spec.get("gdrive_id"),
                expect=spec.get("expect", []),
                retries=int(spec.get("retries", 3)),
                timeout=float(spec.get("timeout", 60)),
                log=log,
            )
        except DownloadFailed as err:
            message = f"download: {smk.wildcards.dataset}: {err}"
            log(message)
            print(message, file=sys.stderr)
            return 1
    return 0


def _main_cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url")
    source.add_argument("--gdrive-id")
    parser.add_argument("--checksum", required=True, help="md5:<hex> or sha256:<hex>")
    parser.add_argument("--out", required=True, type=Path, help="target folder (must not exist)")
    parser.add_argument("--expect", action="append", default=[], help="path that must exist")
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    try:
        install(
            args.out,
            checksum=args.checksum,
            url=args.url,
            gdrive_id=args.gdrive_id,
            expect=args.expect,
            retries=args.retries,
            timeout=args.timeout,
            log=lambda m: print(m, file=sys.stderr),
        )
    except DownloadFailed as err:
        print(f"download: {args.out.name}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    _smk = globals().get("snakemake")
    sys.exit(_main_snakemake(_smk) if _smk is not None else _main_cli())
