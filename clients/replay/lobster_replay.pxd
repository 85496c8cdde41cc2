# Cython declarations for clients/replay/lobster_replay.py (pure-Python mode: the .py is
# the source; these only add C types to the compiled build's row reader).
cimport cython


cdef class _PackedRowReader:
    cdef public Py_ssize_t depth
    cdef public object values
    cdef long long[::1] cells

    @cython.locals(k=Py_ssize_t, nb=Py_ssize_t)
    cpdef object read(self, list ask_prices, list bid_prices, dict asks, dict bids)
