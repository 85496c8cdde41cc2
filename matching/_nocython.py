"""Stand-in for the ``cython`` module where Cython is not installed.

The compiled modules (``matching/order.py``, ``book.py``, ``engine.py``; see ``setup.py``)
ask ``cython.compiled`` to pick a plain-Python spelling of the few things their ``.pxd``
files replace with C. Without Cython they are never compiled, so ``compiled`` is False.
"""

compiled = False
