"""The package installs from its own build backend: the wheel holds every
module and imports on its own (no server needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import unittest
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_build"))

import flagops_build  # noqa: E402


class Wheel(unittest.TestCase):
    def test_wheel_holds_the_package_and_imports(self):
        with tempfile.TemporaryDirectory() as d:
            name = flagops_build.build_wheel(d)
            self.assertEqual(name, "flagops-0.1.0-py3-none-any.whl")
            path = os.path.join(d, name)
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                record = z.read("flagops-0.1.0.dist-info/RECORD").decode()
                meta = z.read("flagops-0.1.0.dist-info/METADATA").decode()
            modules = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src" / "flagops").glob("*.py")}
            self.assertTrue(modules <= names, modules - names)
            for m in modules:
                self.assertIn(m + ",sha256=", record)
            self.assertIn("Name: flagops", meta)
            self.assertIn('Requires-Dist: openfeature-sdk>=0.7; extra == "openfeature"', meta)
            # Import from the wheel alone, in a clean interpreter.
            out = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import flagops, flagops.client, flagops.cached; print(flagops.__file__)", path],
                                 capture_output=True, text=True, check=True).stdout
            self.assertIn(name, out)


if __name__ == "__main__":
    unittest.main()
