/* A hash for the compiled modules' hash tables whose keys come from the network (StatsD prefixes, trace ids,
 * attribute keys): CPython's own keyed hash (SipHash, seeded per process like str and bytes hashes), so that a
 * client cannot choose keys that collide and turn a table's linear probing quadratic. */
#ifndef EDGETEL_KEYED_HASH_H
#define EDGETEL_KEYED_HASH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static inline uint64_t keyed_hash(const void *p, Py_ssize_t n)
{
#if PY_VERSION_HEX >= 0x030E0000
    return (uint64_t)Py_HashBuffer(p, n);
#else
    return (uint64_t)_Py_HashBytes(p, n);
#endif
}

#endif
