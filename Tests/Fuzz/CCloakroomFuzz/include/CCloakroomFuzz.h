#pragma once
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver (argument parsing, corpus, mutation loop) over `callback`.
int cloakroom_fuzz_main(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));
