# Cython declarations for clients/replay/lobster_bulk.py (pure-Python mode: the .py is the
# source; these only add C types to its one-pass block parser). Indices are unsigned
# (``size_t``): never negative, so no wraparound code; bounds stay checked.
cimport cython


@cython.locals(n=size_t, cap=size_t, i=size_t, k=size_t, col=size_t, row=size_t,
               base=size_t, j=size_t, first=Py_ssize_t, start=size_t, end=size_t,
               c=cython.uchar, d=cython.uchar, neg=bint, v=cython.longlong,
               size=cython.longlong, bits=cython.longlong, minus=cython.uchar,
               zero=cython.uchar, nine=cython.uchar, comma=cython.uchar, nl=cython.uchar,
               max_digits=size_t, ask_pad=cython.longlong, bid_pad=cython.longlong,
               p="const unsigned char *")
cpdef bint _scan_book(bytes buf, size_t width, long long[::1] out,
                      long long[::1] changed, long long[::1] cell) except -1


@cython.locals(n=size_t, cap=size_t, i=size_t, k=size_t, start=size_t, decimals=size_t,
               f=size_t, _r=size_t, digits=size_t, neg=bint, whole=cython.longlong,
               frac=cython.longlong, scale=cython.longlong, ts=cython.longlong,
               v=cython.longlong, mtype=cython.longlong, oid=cython.longlong,
               size=cython.longlong, price=cython.longlong, direction=cython.longlong,
               minus=cython.uchar, zero=cython.uchar, nine=cython.uchar, comma=cython.uchar,
               nl=cython.uchar, dot=cython.uchar, max_field=size_t, max_seconds=size_t,
               new=cython.longlong, halt=cython.longlong, hidden=cython.longlong,
               ns_per_s=cython.longlong)
cpdef bint _scan_messages(const unsigned char[::1] buf, long long[::1] out) except -1
