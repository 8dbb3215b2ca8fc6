// The SonameLink plugin's tool: makes the SONAME link beside a built library, so a program
// linked against the build folder (whose binary records the SONAME) finds the library there.
//
//   magma-soname-link TARGET LINK STAMP
//
// Replaces LINK with a symbolic link to TARGET (a name in LINK's directory), then writes STAMP,
// the Swift file the build expects from the plugin.
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TARGET LINK STAMP\n", argv[0]);
        return 2;
    }
    const char *target = argv[1], *link = argv[2], *stamp_path = argv[3];
    if (unlink(link) != 0 && errno != ENOENT) {
        perror(link);
        return 1;
    }
    if (symlink(target, link) != 0) {
        perror(link);
        return 1;
    }
    FILE *stamp = fopen(stamp_path, "w");
    if (stamp == NULL) {
        perror(stamp_path);
        return 1;
    }
    fprintf(stamp, "// Written by the SonameLink plugin: %s -> %s.\n", link, target);
    return fclose(stamp) == 0 ? 0 : 1;
}

// Fuzz/run.sh builds every tool with -fsanitize=fuzzer, which links libFuzzer (with a main of
// its own, and a call of LLVMFuzzerTestOneInput) into this one too. The fuzz build's
// --allow-multiple-definition keeps the main above, and this weak definition answers the call
// (never made); in every other build it is an unused function.
__attribute__((weak)) int LLVMFuzzerTestOneInput(const unsigned char *data, unsigned long size) {
    (void)data;
    (void)size;
    return 0;
}
