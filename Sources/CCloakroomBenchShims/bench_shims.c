#define _GNU_SOURCE
#include "CCloakroomBenchShims.h"

#if defined(__linux__)
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Last value of `attr="N"` in the element that starts with `tag`, searching the whole text. */
static size_t last_value(const char *text, const char *tag, const char *attr) {
    size_t value = 0;
    const char *p = text;
    while ((p = strstr(p, tag)) != NULL) {
        const char *a = strstr(p, attr);
        const char *end = strchr(p, '>');
        if (a && end && a < end) value = strtoull(a + strlen(attr), NULL, 10);
        p += strlen(tag);
    }
    return value;
}

/* mallinfo2 covers only the main arena; malloc_info reports every arena, and its closing totals
   give in-use bytes = heap obtained from the system - free chunks + mmapped chunks. */
size_t cloakroom_heap_in_use(void) {
    char *buffer = NULL;
    size_t length = 0;
    FILE *stream = open_memstream(&buffer, &length);
    if (!stream) return 0;
    malloc_info(0, stream);
    fclose(stream);
    if (!buffer) return 0;
    size_t current = last_value(buffer, "<system type=\"current\"", "size=\"");
    size_t fast = last_value(buffer, "<total type=\"fast\"", "size=\"");
    size_t rest = last_value(buffer, "<total type=\"rest\"", "size=\"");
    size_t mmapped = last_value(buffer, "<total type=\"mmap\"", "size=\"");
    free(buffer);
    size_t free_bytes = fast + rest;
    return (current > free_bytes ? current - free_bytes : 0) + mmapped;
}
#else
size_t cloakroom_heap_in_use(void) { return 0; }
#endif
