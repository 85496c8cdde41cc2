# Cython declarations for matching/book.py (pure-Python mode: the .py is the source).
cimport cython

from matching.order cimport Order, PriceLevel


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

    cpdef PriceLevel level_for_insert(self, object side, object price)
    cpdef remove_level(self, object side, PriceLevel level)
