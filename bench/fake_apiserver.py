#!/usr/bin/env python3
"""The fake Kubernetes API server of the benchmarks and the end-to-end suite (CI runs the
suite against it): `python3 bench/fake_apiserver.py --help` for what it serves and its
options. The code lives in the package bench/fakeapi/ (its __init__.py is the overview).

  python3 bench/fake_apiserver.py --port 0 --no-keys   # prints LISTENING <port>

Other scripts also import the preloading helpers from here (key_secret, parse_key_arg,
plain_secret, seal_all).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeapi.bench import key_secret, parse_key_arg, plain_secret, seal_all  # noqa: E402
from fakeapi.cli import main  # noqa: E402

__all__ = ["main", "key_secret", "parse_key_arg", "plain_secret", "seal_all"]

if __name__ == "__main__":
    main()
