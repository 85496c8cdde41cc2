# Cython declarations for matching/order.py (pure-Python mode: the .py is the source).
# Compiled, Order and PriceLevel are final extension types with typed slots; the field
# set must stay the one the .py's __slots__ name.
cimport cython


@cython.final
cdef class Order:
    cdef public object cmd
    cdef public object clid
    cdef public object instrument
    cdef public object order_id
    cdef public object account
    cdef public object side
    cdef public object price
    cdef public object qty
    cdef public object leaves
    cdef public object cum
    cdef public Order prev
    cdef public Order next


@cython.final
cdef class PriceLevel:
    cdef public object price
    cdef public Order head
    cdef public Order tail
    cdef public object total
    cdef public Py_ssize_t count

    cpdef append(self, Order order)
    cpdef prepend(self, Order order)
    cpdef unlink(self, Order order)
