# Cython declarations for matching/book.py (pure-Python mode: the .py is the source).
cimport cython

from matching.order cimport Order, PriceLevel


cdef extern from *:
    """
    /* bisect.bisect_left(prices, price) on a list, without the call through the bisect
       module: the first index whose price is not below ``price`` (-1 on an error). */
    static Py_ssize_t crossbook_bisect_left(PyObject *prices, PyObject *price) {
        Py_ssize_t lo = 0, hi = PyList_GET_SIZE(prices), mid;
        int below;
        while (lo < hi) {
            mid = (lo + hi) / 2;
            below = PyObject_RichCompareBool(PyList_GET_ITEM(prices, mid), price, Py_LT);
            if (below < 0) return -1;
            if (below) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
    """
    Py_ssize_t _bisect_left "crossbook_bisect_left"(list prices, object price) except -1


@cython.final
cdef class OrderBook:
    cdef public object instrument
    cdef public object symbol
    cdef public tuple limits
    cdef public dict bids
    cdef public dict asks
    cdef public list bid_prices
    cdef public list ask_prices
    cdef public PriceLevel best_bid
    cdef public PriceLevel best_ask
    cdef public object status
    cdef public object band_low
    cdef public object band_high
    cdef public object last_price

    @cython.locals(level=PriceLevel, prices=list)
    cpdef PriceLevel level_for_insert(self, object side, object price)
    @cython.locals(prices=list)
    cpdef remove_level(self, object side, PriceLevel level)
