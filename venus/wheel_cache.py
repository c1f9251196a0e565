"""The offline wheel cache in /data/alfen-victron/wheels: what a venv rebuild on another Python needs.

A binary wheel (PyYAML's, MarkupSafe's) fits one Python minor version only, and a Venus OS firmware
update usually brings another one. A GX has no compiler, but both packages fall back to pure
Python when their C extension cannot be built, so their source packages, kept next to the wheels
with their build requirements as pure-Python wheels, rebuild the venv offline on any Python.

Run by install.sh with the venv's Python (standard library and pip only):
  wheel_cache.py add-sources DIR   download the sdist of every binary wheel in DIR, the build
                                   requirements of every sdist as pure-Python wheels, and what
                                   the wheels require on other Python versions only
  wheel_cache.py check DIR         exit 1, naming what is missing, if DIR cannot rebuild offline
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import List, Optional, Tuple

# What pip assumes for an sdist without a [build-system] table (PEP 517/518).
LEGACY_BUILD_REQUIRES = ["setuptools>=40.8.0", "wheel"]
SDIST_SUFFIXES = (".tar.gz", ".zip")
# pip download of wheels that fit any Python 3 on any machine (Cython has a py3-none-any one)
PURE_WHEELS = (
    "download", "--only-binary", ":all:", "--platform", "any", "--implementation", "py",
    "--abi", "none",
)  # fmt: skip


def normalize(name: str) -> str:
    """PEP 503 name: 'PyYAML' and 'pyyaml', 'ruamel_yaml' and 'ruamel.yaml' are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_tags(path: Path) -> Tuple[str, str, bool]:
    """(normalized name, version, pure) from a wheel's file name; pure means any Python 3."""
    parts = path.name[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"{path.name}: not a wheel file name (name-version-python-abi-platform)")
    abi, platform = parts[-2], parts[-1]
    return normalize(parts[0]), parts[1], abi == "none" and platform == "any"


def sdist_name(path: Path) -> Optional[Tuple[str, str]]:
    """(normalized name, version) of a source package, None for any other file."""
    for suffix in SDIST_SUFFIXES:
        if path.name.endswith(suffix):
            name, _, version = path.name[: -len(suffix)].rpartition("-")
            return (normalize(name), version) if name else None
    return None


def binary_wheels(folder: Path) -> List[Tuple[str, str]]:
    """(name, version) of each wheel built for one Python version or platform."""
    out = []
    for path in sorted(folder.glob("*.whl")):
        name, version, pure = wheel_tags(path)
        if not pure:
            out.append((name, version))
    return out


def sdists(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if sdist_name(p) is not None)


def _pyproject_text(sdist: Path) -> Optional[str]:
    """The sdist's top-level pyproject.toml, None when it has none."""
    if sdist.name.endswith(".zip"):
        with zipfile.ZipFile(sdist) as archive:
            names = [n for n in archive.namelist() if n.count("/") == 1]
            for name in names:
                if name.endswith("/pyproject.toml"):
                    return archive.read(name).decode("utf-8")
        return None
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/pyproject.toml"):
                handle = archive.extractfile(member)
                return handle.read().decode("utf-8") if handle else None
    return None


def _requires_from_toml(text: str) -> Optional[List[str]]:
    """[build-system] requires; None when the table or key is absent."""
    try:
        import tomllib  # Python 3.11+

        table = tomllib.loads(text).get("build-system", {})
        requires = table.get("requires")
        return [str(r) for r in requires] if isinstance(requires, list) else None
    except ImportError:
        pass
    # Older Pythons: the requires array is a list of quoted strings, possibly over several lines.
    section = re.search(r"^\[build-system\][^\n]*\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not section:
        return None
    array = re.search(r"^requires\s*=\s*\[(.*?)\]", section.group(1), re.M | re.S)
    if not array:
        return None
    body = re.sub(r"#[^\n]*", "", array.group(1))
    return [a or b for a, b in re.findall(r'"([^"]*)"|\'([^\']*)\'', body)]


def build_requires(sdist: Path) -> List[str]:
    """What building the sdist needs, environment markers dropped: the cache serves any Python."""
    try:
        text = _pyproject_text(sdist)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ValueError(f"{sdist.name}: not a readable source package ({exc})") from exc
    try:
        requires = _requires_from_toml(text) if text is not None else None
    except ValueError as exc:  # tomllib's TOMLDecodeError
        raise ValueError(f"{sdist.name}: pyproject.toml: {exc}") from exc
    if requires is None:
        requires = LEGACY_BUILD_REQUIRES
    return [r.split(";", 1)[0].strip() for r in requires if r.split(";", 1)[0].strip()]


def _wheel_requires(path: Path) -> List[str]:
    """Requires-Dist lines of a wheel's own METADATA (not of a copy it vendors)."""
    with zipfile.ZipFile(path) as whl:
        names = [n for n in whl.namelist() if n.count("/") == 1]
        meta = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        text = whl.read(meta).decode("utf-8") if meta else ""
    prefix = "Requires-Dist:"
    return [line[len(prefix) :].strip() for line in text.splitlines() if line.startswith(prefix)]


def python_specific_requires(folder: Path) -> List[str]:
    """What the cached wheels require only on some Python versions, markers dropped.

    alfen-victron wants pymodbus 3.8 before Python 3.10 and pymodbus>=3.10 from it on: a cache
    filled on 3.9 must hold both, or a firmware update to 3.10+ cannot rebuild offline.
    """
    out = set()
    for path in sorted(folder.glob("*.whl")):
        try:
            requires = _wheel_requires(path)
        except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise ValueError(f"{path.name}: not a readable wheel ({exc})") from exc
        for requirement in requires:
            spec, _, marker = requirement.partition(";")
            if "python_" in marker and "version" in marker and "extra" not in marker:
                out.add(spec.strip())
    return sorted(out)


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return normalize(match.group(1)) if match else requirement


def missing(folder: Path) -> List[str]:
    """Why the cache cannot rebuild the venv on another Python; empty when it can."""
    have_sdist = {n[0] for n in (sdist_name(p) for p in sdists(folder)) if n}
    pure_wheels = {wheel_tags(p)[0] for p in folder.glob("*.whl") if wheel_tags(p)[2]}
    problems = [
        f"{name} {version}: a binary wheel without its source package"
        for name, version in binary_wheels(folder)
        if name not in have_sdist
    ]
    for sdist in sdists(folder):
        for requirement in build_requires(sdist):
            if _requirement_name(requirement) not in pure_wheels:
                problems.append(
                    f"{sdist.name}: no pure-Python wheel for its build requirement {requirement}"
                )
    return problems


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args], check=True
    )


def add_sources(folder: Path) -> None:
    """Download what rebuilds the binary wheels' packages from source, without a compiler."""
    have_sdist = {n for n in (sdist_name(p) for p in sdists(folder)) if n}
    wanted = [f"{n}=={v}" for n, v in binary_wheels(folder) if (n, v) not in have_sdist]
    if wanted:
        print("wheel_cache.py: adding the source packages of " + ", ".join(wanted))
        # only these from source: ":all:" would build their build requirements (Cython) too
        names = ",".join(n for n, _ in binary_wheels(folder))
        pip("download", "--no-binary", names, "--no-deps", "--dest", str(folder), *wanted)
    other_pythons = python_specific_requires(folder)
    if other_pythons:
        print("wheel_cache.py: adding what other Python versions need: " + ", ".join(other_pythons))
        for requirement in other_pythons:  # one by one: one failure leaves the others in
            try:
                pip(
                    *PURE_WHEELS,
                    "--ignore-requires-python",
                    "--no-deps",
                    "--dest",
                    str(folder),
                    requirement,
                )
            except subprocess.CalledProcessError:  # the cache still serves this Python
                print(
                    f"wheel_cache.py: WARNING: no pure-Python wheel for {requirement}",
                    file=sys.stderr,
                )
    requires = sorted({r for sdist in sdists(folder) for r in build_requires(sdist)})
    if requires:
        print("wheel_cache.py: adding their build requirements " + ", ".join(requires))
        # the next Python needs them too
        pip(*PURE_WHEELS, "--dest", str(folder), *requires)


def main(argv: List[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("add-sources", "check"):
        print("usage: wheel_cache.py add-sources|check DIR", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    try:
        if argv[0] == "add-sources":
            add_sources(folder)
        problems = missing(folder)
    except (OSError, ValueError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        print(f"wheel_cache.py: {folder}: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(
            f"wheel_cache.py: pip failed ({exc.returncode}); its output is above", file=sys.stderr
        )
        return 1
    for problem in problems:
        print(f"wheel_cache.py: {folder}: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
