"""setup.py — the build step of the inception package (python/pyproject.toml).

The package is the pure-Python binding plus the shared library it binds:
this copies lib/libinception.so.<MAJOR> of the source tree (and the CUDA
module lib/libinception-cuda.so.<MAJOR> when it was built, which the library
then finds beside itself) into the package, running `make lib` first when
the library has not been built. The version comes from include/inception.h.
"""
import os
import re
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def header_version():
    with open(os.path.join(ROOT, "include", "inception.h")) as f:
        text = f.read()
    parts = [re.search(r"#define INC_VERSION_%s (\d+)" % k, text).group(1)
             for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


class build_py_with_library(build_py):
    def run(self):
        super().run()
        major = header_version().split(".")[0]
        names = ["libinception.so." + major, "libinception-cuda.so." + major]
        core = os.path.join(ROOT, "lib", names[0])
        if not os.path.exists(core):
            subprocess.check_call(["make", "-C", ROOT, "lib"])
        dest = os.path.join(self.build_lib, "inception")
        os.makedirs(dest, exist_ok=True)
        for name in names:
            src = os.path.join(ROOT, "lib", name)
            if os.path.exists(src):
                shutil.copyfile(os.path.realpath(src), os.path.join(dest, name))


class BinaryDistribution(Distribution):
    """The wheel holds a shared library: tag it for this platform."""

    def has_ext_modules(self):
        return True


setup(version=header_version(), cmdclass={"build_py": build_py_with_library},
      distclass=BinaryDistribution)
