"""Checks that the installed OpenMMLab packages can run yolokit."""
from importlib import metadata
from typing import Dict, List, Optional, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

# Ranges known to work together. They are deliberately wide: only versions
# that are known to break are refused (mmdet 3.x itself refuses mmcv>=2.2).
# Keep in sync with requirements/mminstall.txt.
REQUIRED_VERSIONS: Dict[str, str] = {
    'mmengine': '>=0.7.1,<1.0.0',
    'mmcv': '>=2.0.0rc4,<2.2.0',
    'mmdet': '>=3.0.0,<3.4.0',
}


class IncompatibleDependencyError(ImportError):
    """Raised when an installed OpenMMLab package cannot run yolokit."""


def _installed_version(dist: str) -> Optional[str]:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def find_incompatible_dependencies() -> List[Tuple[str, Optional[str], str]]:
    """Return ``(package, installed version or None, required)`` problems."""
    problems = []
    for dist, spec in REQUIRED_VERSIONS.items():
        installed = _installed_version(dist)
        if installed is None:
            if dist == 'mmcv' and _installed_version('mmcv-lite'):
                problems.append(
                    ('mmcv', 'mmcv-lite ' + _installed_version('mmcv-lite'),
                     spec + ' with compiled ops (MMDetection imports '
                     'mmcv.ops; mmcv-lite has none)'))
            else:
                problems.append((dist, None, spec))
            continue
        if not SpecifierSet(spec, prereleases=True).contains(
                Version(installed), prereleases=True):
            problems.append((dist, installed, spec))
    return problems


def check_dependency_versions() -> None:
    """Raise one clear error listing every incompatible dependency.

    Raises:
        IncompatibleDependencyError: naming each installed and required
            version, and how to get a working stack.
    """
    problems = find_incompatible_dependencies()
    if not problems:
        return
    lines = [
        f'  {dist}: installed {installed or "nothing"}, yolokit needs {spec}'
        for dist, installed, spec in problems
    ]
    raise IncompatibleDependencyError(
        'yolokit cannot run with the installed OpenMMLab packages:\n' +
        '\n'.join(lines) + '\nRun `make env` in the yolokit repository (or '
        'tools/misc/setup_env.sh) to install the tested stack, or install '
        'the versions above.')
