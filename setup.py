"""Install yolokit.

``pip install -e .`` links ``configs/``, ``tools/``, ``demo/`` and
``model-index.yml`` into ``yolokit/.mim/`` so that ``mim`` finds configs by
name; a regular (non-editable) install copies them there instead.
"""
import os
import os.path as osp
import shutil
import sys
from typing import Dict, List

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))
MIM_ITEMS = ('configs', 'tools', 'demo', 'model-index.yml')


def read_version() -> str:
    namespace: Dict[str, str] = {}
    with open(osp.join(HERE, 'yolokit', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'version.py', 'exec'), namespace)
    return namespace['__version__']


def read_requirements(name: str) -> List[str]:
    """Requirement lines of ``requirements/<name>``, without comments."""
    path = osp.join(HERE, 'requirements', name)
    reqs = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def add_mim_extension() -> None:
    """Expose configs, tools, demo and model-index.yml under yolokit/.mim."""
    if 'develop' in sys.argv or any('editable' in a for a in sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'install'} & set(sys.argv):
        mode = 'copy'
    else:
        # PEP 660 editable installs run setup.py through setuptools'
        # build backend without 'develop' in argv; links are right there.
        mode = 'symlink'
    mim_dir = osp.join(HERE, 'yolokit', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for item in MIM_ITEMS:
        src = osp.join(HERE, item)
        dst = osp.join(mim_dir, item)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    all_extras = (read_requirements('runtime.txt') +
                  read_requirements('mminstall.txt') +
                  read_requirements('albu.txt'))
    setup(
        name='yolokit',
        version=read_version(),
        description='YOLO-family object detection toolbox on OpenMMLab 2.0',
        long_description=open(osp.join(HERE, 'README.md'),
                              encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        keywords='computer vision, object detection, yolo',
        packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests',
                                        'docs')),
        include_package_data=True,
        package_data={'yolokit': ['.mim/*', '.mim/**/*']},
        python_requires='>=3.8',
        license='GPL-3.0',
        classifiers=[
            'Programming Language :: Python :: 3',
            'Programming Language :: Python :: 3.11',
            'Operating System :: OS Independent',
        ],
        install_requires=read_requirements('runtime.txt'),
        extras_require={
            'all': all_extras + read_requirements('tests.txt'),
            'tests': read_requirements('tests.txt'),
            'mim': read_requirements('mim.txt') +
            read_requirements('mminstall.txt'),
            'mminstall': read_requirements('mminstall.txt'),
            'albu': read_requirements('albu.txt'),
            'build': read_requirements('build.txt'),
        },
        zip_safe=False)
