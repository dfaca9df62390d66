#include "CCloakroomFuzz.h"

// libFuzzer's entry for programs that have their own main (LLVM 11 and later). SwiftPM names an
// executable's entry point after its module, so each fuzz target's main calls this.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

int cloakroom_fuzz_main(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size)) {
    return LLVMFuzzerRunDriver(&argc, &argv, callback);
}
