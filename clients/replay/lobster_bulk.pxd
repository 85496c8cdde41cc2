# Cython declarations for clients/replay/lobster_bulk.py (pure-Python mode: the .py is the
# source; these only add C types to its one-pass block parser). Indices are unsigned
# (``size_t``): never negative, so no wraparound code; bounds stay checked.
cimport cython


@cython.locals(n=size_t, cap=size_t, i=size_t, k=size_t, col=size_t, row=size_t,
               base=size_t, j=size_t, first=Py_ssize_t, digits=size_t,
               c=cython.uchar, neg=bint, v=cython.longlong, size=cython.longlong,
               bits=cython.longlong, minus=cython.uchar, zero=cython.uchar, nine=cython.uchar,
               comma=cython.uchar, nl=cython.uchar, limit=cython.longlong,
               ask_pad=cython.longlong, bid_pad=cython.longlong)
cpdef bint _scan_book(const unsigned char[::1] buf, Py_ssize_t width, long long[::1] out,
                      long long[::1] changed, long long[::1] cell) except -1
