# Cython declarations for matching/engine.py (pure-Python mode: the .py is the source).
# Only types live here; every line of logic is in engine.py.
cimport cython

from matching.book cimport OrderBook
from matching.order cimport Order, PriceLevel


cdef extern from *:
    """
    /* An event NamedTuple built from a tuple of its fields, as tuple.__new__(cls, values)
       does for a tuple subclass (tuple_subtype_new), without the call machinery; the
       differential test (tests/matching/test_compiled.py) holds it to the same events. */
    static CYTHON_INLINE PyObject *crossbook_new_event(PyTypeObject *cls, PyObject *values) {
        Py_ssize_t i, n = PyTuple_GET_SIZE(values);
        PyObject *ev;
        if (Py_REFCNT(values) == 1 && Py_IS_TYPE(values, &PyTuple_Type)
                && cls->tp_basicsize == PyTuple_Type.tp_basicsize
                && cls->tp_itemsize == PyTuple_Type.tp_itemsize
                && cls->tp_free == PyTuple_Type.tp_free && n > 0) {
            /* the fields tuple was just built for this call and nothing else holds it:
               it becomes the event (same layout, same allocator), no copy */
            Py_INCREF(cls);
            Py_SET_TYPE(values, cls);
            Py_INCREF(values);
            return values;
        }
        ev = cls->tp_alloc(cls, n);
        if (ev == NULL) return NULL;
        for (i = 0; i < n; i++) {
            PyObject *v = PyTuple_GET_ITEM(values, i);
            Py_INCREF(v);
            PyTuple_SET_ITEM(ev, i, v);
        }
        return ev;
    }
    """
    object _new "crossbook_new_event"(type cls, tuple values)


cdef extern from *:
    """
    /* A command NamedTuple (a tuple subclass) seen as a plain tuple, so that Cython
       unpacks it by index; anything else is a TypeError, never a bad read. */
    static CYTHON_INLINE PyObject *crossbook_fields(PyObject *cmd) {
        if (!PyTuple_Check(cmd)) {
            PyErr_Format(PyExc_TypeError, "a command tuple expected, got %.200s",
                         Py_TYPE(cmd)->tp_name);
            return NULL;
        }
        Py_INCREF(cmd);
        return cmd;
    }
    """
    tuple _fields "crossbook_fields"(object cmd)


@cython.final
cdef class MatchingEngine:
    cdef public dict books
    cdef public dict orders
    cdef public dict accounts
    cdef public object seq
    cdef public object trade_id
    cdef public list _expiries
    cdef public dict _handlers
    # instance attributes beyond these (a harness wrapping ``apply`` on one engine, as
    # bench/clearing.py does) work as on the plain class; internal calls stay direct
    cdef dict __dict__

    cpdef _reject(self, list events, object cmd, object reason, str text=*)

    @cython.locals(book=OrderBook, opp=PriceLevel, level=PriceLevel, order=Order,
                   orders=dict, acct_orders=dict, tail=Order, crosses=bint, seq=object,
                   count=Py_ssize_t, gtc=bint, limit=bint)
    cpdef _new_order(self, object cmd, list events)

    @cython.locals(store=dict, o=Order, prices=list)
    cpdef _fok_fillable(self, OrderBook book, object side, object limit, object qty,
                        object acct, object stp)

    @cython.locals(orders=dict, accounts=dict, level=PriceLevel, maker=Order, nxt=Order,
                   count=Py_ssize_t, asks=dict, bids=dict, prices=list, expire_maker=bint)
    cpdef tuple _take(self, OrderBook book, object ts, object sym, object oid, object acct,
                      object side, object limit, object leaves, object cum, object stp,
                      list events)

    cpdef _forget(self, Order order, PriceLevel level)

    @cython.locals(level=PriceLevel)
    cpdef PriceLevel _remove_resting(self, OrderBook book, Order order)

    cpdef _level_event(self, list events, object ts, object sym, object side, PriceLevel level)
    cpdef _cancel_reject(self, list events, object cmd, object response_to, object reason)

    @cython.locals(orders=dict, order=Order, book=OrderBook, level=PriceLevel, prev=Order,
                   nxt=Order, count=Py_ssize_t)
    cpdef _cancel(self, object cmd, list events)

    @cython.locals(order=Order, book=OrderBook, level=PriceLevel, old_level=PriceLevel,
                   levels=dict)
    cpdef _amend(self, object cmd, list events)

    @cython.locals(expiries=list, order=Order, book=OrderBook, level=PriceLevel)
    cpdef _expire_due(self, object ts, list events)
