"""yolokit version."""
__version__ = '0.6.0'


def parse_version_info(version_str: str) -> tuple:
    """Parse ``'0.6.0'`` or ``'0.6.0rc1'`` into ``(0, 6, 0)``/``(0, 6, 0, 'rc1')``."""
    parts = []
    for x in version_str.split('.'):
        if x.isdigit():
            parts.append(int(x))
        elif 'rc' in x:
            major, rc = x.split('rc')
            parts.append(int(major))
            parts.append(f'rc{rc}')
    return tuple(parts)


version_info = parse_version_info(__version__)
