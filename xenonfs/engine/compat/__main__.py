"""``python -m xenonfs.engine.compat``: rebuild the shipped compatibility classes."""

from . import CLASSES_DIR, build

for path in build():
    print(CLASSES_DIR / path)
