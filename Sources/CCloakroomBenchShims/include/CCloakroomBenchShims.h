#ifndef CCLOAKROOM_BENCH_SHIMS_H
#define CCLOAKROOM_BENCH_SHIMS_H
#include <stddef.h>

/// Bytes of heap allocated and not yet freed (glibc malloc_info totals, every arena); 0 elsewhere.
/// Benchmarks only: no shipped library links it.
size_t cloakroom_heap_in_use(void);

#endif
